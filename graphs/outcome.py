"""The last step of remediation: the outcome in the approvals store, the audit log, memory and the post-mortem."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from agent.context import OpsContext
from agent.memory import MemoryKind
from agent.proposals import Accept, Edit, HumanResponse, Ignore, Proposal
from graphs.state import RemediationState

if TYPE_CHECKING:
    from agent.reports.postmortem_events import EventKind as PostMortemEventKind

_SAID = {Accept: "accepted", Edit: "edited and accepted", Ignore: "rejected"}  # a Respond decides nothing


def record_outcome(ctx: OpsContext, p: Proposal, answer: HumanResponse | None, state: RemediationState) -> None:
    """Close the remediation of ``p``: status and audit, memory, and the incident's post-mortem."""
    status = state.get("status") or "failed"
    outcome = state.get("outcome") or status
    record = ctx.approvals.get(p.id)
    if status in ("executed", "failed", "interrupted") and record.status == status:
        return  # recorded before a crash cut this step short: a resumed thread only ends here
    if status in ("executed", "failed", "interrupted") or (status == "refused" and record.status == "pending"):
        detail = {"steps": state.get("steps", [])[-10:], "verified": bool(state.get("verified"))}
        if status == "interrupted":
            outcome += (f". Nothing more was done. Once the cause is fixed, resume it with `opsagent approvals resume "
                        f"{p.id}`, or give it up with `opsagent approvals abandon {p.id}`")
        ctx.approvals.set_status(p.id, status, actor=ctx.actor, via=ctx.via, event=status, outcome=outcome,  # type: ignore[arg-type]
                                 detail=detail)
    if status == "executed":
        ctx.approvals.audit.append("verified" if state.get("verified") else "not_verified", actor=ctx.actor,
                                   via=ctx.via, proposal_id=p.id, detail={"outcome": outcome})
    kind: MemoryKind = "outcome" if status in ("executed", "failed") else "decision"
    fixed = bool(state.get("verified"))
    ctx.memory.record(kind, f"{p.model} {p.kind} proposal {p.id} ({p.title}): {status}. {outcome}"
                      + (" The fix worked." if fixed else ""), model=p.model,
                      metadata={"proposal": p.id, "incident": p.incident_id or "", "fixed": fixed,
                                "status": status, "version": str((state.get("result") or {}).get("version", ""))})
    if p.incident_id:
        said = _SAID.get(type(answer)) if answer is not None else None
        decision = f"proposal {p.id} {said} by {answer.by} via {answer.via}" if answer is not None and said else None
        _update_incident(ctx, p, status, fixed, outcome, decision)
        # An acceptance was recorded in the post-mortem when it happened (graphs.remediation.precheck).
        if decision and isinstance(answer, Ignore):
            note_postmortem(ctx, p.incident_id, "rejected", decision)
        note_postmortem(ctx, p.incident_id, _event_kind(status, record.status), outcome, verified=fixed,
                        steps=list(state.get("steps") or []), result=dict(state.get("result") or {}))
    ctx.progress(f"outcome recorded: {outcome}")


def _update_incident(ctx: OpsContext, p: Proposal, status: str, fixed: bool, outcome: str,
                     decision: str | None) -> None:
    from agent.incidents import add_event
    from agent.remediation_status import remediation_status

    store, incident_id = ctx.incidents, p.incident_id or ""
    # The post-mortem's status line follows the same rule (agent.reports.postmortem_events.status_of). A rejected
    # proposal leaves the incident "won't fix" but still watched (agent.incidents.ACTIVE): the fault is still
    # there, and later ticks keep updating it without proposing again (graphs.incident_record) until its signals
    # clear. Closing it here would let the next tick open a new incident, and page, while the fault goes on.
    said = remediation_status(p.kind, verified=fixed, rejected=status == "rejected")
    try:
        incident = store.get(incident_id)
        store.update(incident_id, status=said, timeline=add_event(incident.timeline, ctx.clock(), decision or outcome),
                     **({"resolved_at": ctx.clock()} if said == "resolved" else {}))
    except Exception:  # an incident filed by another home or deleted: the outcome is still in memory and audit
        return


def _event_kind(status: str, record_status: str) -> PostMortemEventKind:
    if status == "refused":
        return "expired" if record_status == "expired" else "refused"
    return status if status in ("executed", "failed", "interrupted") else "note"  # type: ignore[return-value]


def note_postmortem(ctx: OpsContext, incident_id: str | None, kind: PostMortemEventKind, text: str,
                    **fields: Any) -> None:
    """Record an event in the incident's post-mortem, which re-derives its status, resolution and action items."""
    from agent.reports.postmortem_events import PostMortemEvent, apply_event

    if not incident_id:
        return
    with contextlib.suppress(FileNotFoundError, ValueError):  # an incident without a written post-mortem
        apply_event(ctx.layout, incident_id, PostMortemEvent(kind=kind, text=text, at=ctx.clock(), **fields))
