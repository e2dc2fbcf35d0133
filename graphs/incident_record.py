"""Triage's last steps on the incident: open it, or update the active one with this tick (its figures, timeline
and proposal), or resolve it — in the store (for `opsagent incidents`) and in memory (for later recall).

Which of these a tick does is decided by ``agent.incident_ticks.judge`` (the ``correlate`` node); this module
applies it and says whether people should hear of it.
"""

from __future__ import annotations

import contextlib
from typing import Any

from agent.context import OpsContext
from agent.incident_ticks import Tick, counters_after
from agent.incidents import IncidentRecord, add_event
from agent.proposals import Proposal
from agent.tracing import current_trace_id
from graphs.state import TriageState

# A proposal of the incident that ended here is not proposed again while the incident lasts: a person
# decided (rejected), or the fix is under way or done (a retrain on the same window would not do better), or it
# stopped mid-way (interrupted: a person resumes or abandons it; a second fix beside it could act twice).
# An expired, refused, failed or superseded one is: the question is still open.
_NO_REPROPOSE = frozenset({"accepted", "executing", "executed", "rejected", "interrupted"})


def incident_proposals(ctx: OpsContext, model: str, incident_id: str, *, pending_only: bool = True) -> list[Any]:
    records = ctx.approvals.pending(model) if pending_only else ctx.approvals.list(model=model)
    return [r for r in records if r.proposal.incident_id == incident_id]


def repropose_refusal(ctx: OpsContext, ongoing: dict[str, Any] | None) -> str | None:
    """Why this tick files no proposal for the ongoing incident (its last one was decided or ran), or None."""
    if not ongoing or not ongoing.get("proposal_id"):
        return None
    try:
        last = ctx.approvals.get(ongoing["proposal_id"])
    except Exception:  # a proposal gone from the inbox: propose afresh
        return None
    if last.status not in _NO_REPROPOSE or incident_proposals(ctx, last.proposal.model, ongoing["id"]):
        return None
    return (f"not proposing again: proposal {last.id} is {last.status}; the incident stays open until its "
            "signals clear (`opsagent triage` by hand for a fresh proposal once a new window shows the fault)")


def adopt_pending(ctx: OpsContext, proposal: Proposal) -> Proposal:
    """The incident's pending proposal of the same kind refreshed with this draft (so the post-mortem and the
    run log name the proposal that is in the inbox), or the draft itself."""
    from graphs.proposal_refresh import refreshed

    if not proposal.incident_id:
        return proposal
    for record in incident_proposals(ctx, proposal.model, proposal.incident_id):
        if record.proposal.kind == proposal.kind:
            return refreshed(ctx.approvals, record, proposal)[0]
    return proposal


def record_tick(ctx: OpsContext, state: TriageState) -> str:
    """Apply this tick to the incident; returns why people should hear of it ("" when only recorded)."""
    tick = Tick.model_validate(state["tick"])
    ongoing = IncidentRecord.model_validate(state["ongoing"]) if state.get("ongoing") else None
    if tick.kind == "quiet":
        ctx.progress("nothing wrong: no incident opened")
        return ""
    if tick.kind == "new" or ongoing is None:
        _open(ctx, state, tick)
        return tick.notify
    if tick.kind in ("clearing", "resolved"):
        return _quiet_tick(ctx, ongoing, tick)
    return _found_again(ctx, state, ongoing, tick)


def _remember(ctx: OpsContext, state: TriageState) -> str:
    d, signals, proposal = state["diagnosis"], state["signals"], state.get("proposal")
    text = (f"{signals.model}: {d.category} — {d.summary} Findings: "
            + "; ".join(f"{f.kind} {f.subject}" for f in signals.findings) + f". Action proposed: {d.action}.")
    return ctx.memory.record("incident", text, model=signals.model, memory_id=state["incident_id"],
                             metadata={"category": d.category, "action": d.action, "culprit": ", ".join(d.culprit),
                                       "proposal": proposal.id if proposal else "",
                                       "postmortem": state.get("postmortem") or "", "brain": d.brain})


def _usage(ctx: OpsContext, state: TriageState) -> tuple[int, int, float]:
    from agent.llm import cost_usd

    usage = state.get("usage") or {}
    tokens_in, tokens_out = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    # An unknown price counts 0 in the incident's running total; its post-mortem's usage line says it is unknown.
    return tokens_in, tokens_out, cost_usd(ctx.settings, tokens_in, tokens_out) or 0.0


def _open(ctx: OpsContext, state: TriageState, tick: Tick) -> None:
    d, signals, proposal = state["diagnosis"], state["signals"], state.get("proposal")
    memory_id = _remember(ctx, state)
    tokens_in, tokens_out, cost = _usage(ctx, state)
    now = ctx.clock()
    ctx.incidents.open(
        signals.model, id=state["incident_id"], window_since=signals.window_since,
        window_until=signals.window_until, status="proposed" if proposal else "no_action", category=d.category,
        cause=tick.cause, culprit=d.culprit, action=d.action, summary=d.summary, brain=d.brain,
        postmortem_path=state.get("postmortem"), proposal_id=proposal.id if proposal else None, memory_id=memory_id,
        tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost, severity=tick.severity, last_seen=now,
        figures=tick.figures, timeline=add_event([], now, tick.note), trace_id=current_trace_id())
    ctx.progress(f"incident {state['incident_id']} recorded (memory {memory_id})")


def _found_again(ctx: OpsContext, state: TriageState, inc: IncidentRecord, tick: Tick) -> str:
    """An ongoing, held or re-labelled tick: the incident's counters, figures and timeline move on."""
    d, signals, now = state["diagnosis"], state["signals"], ctx.clock()
    timeline = add_event(inc.timeline, now, tick.note, routine=tick.kind != "recause")
    fields: dict[str, Any] = {**counters_after(inc, tick), "last_seen": now, "figures": tick.figures}
    notify = tick.notify
    if tick.writes_report:  # this tick's diagnosis is the incident's: take its figures, culprit and proposal
        tokens_in, tokens_out, cost = _usage(ctx, state)
        fields.update(window_since=signals.window_since, window_until=signals.window_until, summary=d.summary,
                      category=d.category, action=d.action, culprit=d.culprit, brain=d.brain,
                      postmortem_path=state.get("postmortem") or inc.postmortem_path,
                      tokens_in=inc.tokens_in + tokens_in, tokens_out=inc.tokens_out + tokens_out,
                      cost_usd=inc.cost_usd + cost, memory_id=_remember(ctx, state), trace_id=current_trace_id())
        if set(d.culprit) != set(inc.culprit) and tick.kind == "ongoing":
            timeline = add_event(timeline, now, f"culprit now {', '.join(d.culprit) or 'none'} "
                                 f"(was {', '.join(inc.culprit) or 'none'})")
        proposal = state.get("proposal")
        if proposal is not None and proposal.id != inc.proposal_id:
            said = f"new proposal {proposal.id}" + (f" replaces {inc.proposal_id}" if inc.proposal_id else "")
            timeline = add_event(timeline, now, said)
            notify = "; ".join(x for x in (notify, said) if x)
        if proposal is not None:
            fields.update(proposal_id=proposal.id, status="proposed")
    ctx.incidents.update(inc.id, timeline=timeline, **fields)
    return notify


def _quiet_tick(ctx: OpsContext, inc: IncidentRecord, tick: Tick) -> str:
    """A quiet tick of an active incident: one more towards resolving it, or the one that resolves it."""
    now = ctx.clock()
    resolved = tick.kind == "resolved"
    timeline = add_event(inc.timeline, now, tick.note, routine=not resolved)
    fields: dict[str, Any] = counters_after(inc, tick)
    if resolved:
        for record in incident_proposals(ctx, inc.model, inc.id):  # nothing left to approve
            ctx.approvals.supersede(record.id, by=None, reason=f"incident {inc.id} resolved: its signals cleared",
                                    actor="opsagent", via=ctx.via)
            timeline = add_event(timeline, now, f"proposal {record.id} withdrawn: the incident resolved")
        fields.update(status="resolved", resolved_at=now)
        _append_to_postmortem(ctx, inc.id, tick.note, now)
    ctx.incidents.update(inc.id, timeline=timeline, **fields)
    return tick.notify


def _append_to_postmortem(ctx: OpsContext, incident_id: str, line: str, at: float) -> None:
    from agent.reports.postmortem_events import PostMortemEvent, apply_event

    with contextlib.suppress(FileNotFoundError, ValueError):  # an incident without a written post-mortem
        apply_event(ctx.layout, incident_id, PostMortemEvent(kind="resolved", text=line, at=at))
