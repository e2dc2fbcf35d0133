"""The last step of remediation: the outcome in the approvals store, the audit log, memory and the post-mortem."""

from __future__ import annotations

import contextlib

from agent.context import OpsContext
from agent.memory import MemoryKind
from agent.proposals import proposal_from_dict
from graphs.state import RemediationState


def record_outcome(ctx: OpsContext, state: RemediationState) -> None:
    p = proposal_from_dict(state["proposal"])  # type: ignore[arg-type]
    status = state.get("status") or "failed"
    outcome = state.get("outcome") or status
    record = ctx.approvals.get(p.id)
    if status in ("executed", "failed") or (status == "refused" and record.status == "pending"):
        detail = {"steps": state.get("steps", [])[-10:], "verified": bool(state.get("verified"))}
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
        answer = state.get("response") or {}
        said = {"accept": "accepted", "edit": "edited and accepted", "ignore": "rejected"}.get(answer.get("type", ""))
        decision = f"proposal {p.id} {said} by {answer.get('by')} via {answer.get('via')}" if said else None
        _update_incident(ctx, p.incident_id, status, fixed, outcome, decision)
    ctx.progress(f"outcome recorded: {outcome}")


def _update_incident(ctx: OpsContext, incident_id: str, status: str, fixed: bool, outcome: str,
                     decision: str | None) -> None:
    from agent.reports.postmortem_files import append_decision

    store = ctx.incidents
    try:
        store.update(incident_id, status="mitigated" if fixed else ("closed" if status == "rejected" else "open"))
    except Exception:  # an incident filed by another home or deleted: the outcome is still in memory and audit
        return
    with contextlib.suppress(FileNotFoundError):  # an incident without a written post-mortem
        if decision:
            append_decision(ctx.layout, incident_id, decision, at=ctx.clock())
        append_decision(ctx.layout, incident_id, outcome, at=ctx.clock())
