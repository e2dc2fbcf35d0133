"""Triage's writing steps: the costed proposal, the post-mortem, and the incident record.

Templates always produce a complete document; with an LLM configured, pydantic-ai rewrites the prose
fields (typed, validated, retried) and any failure keeps the template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.context import OpsContext
from agent.diagnosis import Diagnosis, TriageSignals
from agent.proposals import Proposal
from graphs.state import TriageState
from ml_core.store_engine import describe


def writer_model(ctx: OpsContext) -> Any:
    if ctx.writer_model is not None:
        return ctx.writer_model
    from agent.reports.llm_writer import pydantic_ai_model

    return pydantic_ai_model(ctx.settings)


def _usage(raw: dict[str, Any]) -> dict[str, int]:
    return {"llm_calls": int(raw.get("requests", 0) or 0), "input_tokens": int(raw.get("input_tokens", 0) or 0),
            "output_tokens": int(raw.get("output_tokens", 0) or 0)}


def draft_and_rewrite(ctx: OpsContext, signals: TriageSignals, diagnosis: Diagnosis,
                      incident_id: str) -> tuple[Proposal | None, dict[str, int]]:
    from agent.drafting import draft_proposal
    from agent.guard import signals_for_llm

    proposal = draft_proposal(ctx, signals, diagnosis, brain=diagnosis.brain, incident_id=incident_id)
    model = writer_model(ctx) if proposal is not None and diagnosis.brain.startswith("llm") else None
    if proposal is None or model is None:
        return proposal, {}
    from agent.reports.llm_writer import rewrite_proposal_with_llm

    rewritten, usage = rewrite_proposal_with_llm(model, proposal, facts=signals_for_llm(signals), settings=ctx.settings)
    return rewritten, _usage(usage)


def links_for(ctx: OpsContext, signals: TriageSignals) -> dict[str, str]:
    """MLflow run ids and versions, the drift report, the serving revision: the post-mortem's evidence links."""
    links = {"MLflow tracking": ctx.settings.tracking_uri}
    for role, version in (("champion", signals.deploy.champion), ("canary", signals.deploy.canary),
                          ("previous champion", signals.deploy.previous_champion)):
        if not version:
            continue
        links[f"{role} v{version}"] = f"models:/{signals.model}/{version}"
        try:
            run_id = ctx.registry.version(signals.model, version).run_id
        except Exception:  # a version deleted since: the link is simply left out
            run_id = None
        if run_id:
            links[f"{role} v{version} training run"] = run_id
    links["prediction log"] = describe(ctx.layout.predictions_store(signals.model))
    return links


def write_postmortem(ctx: OpsContext, state: TriageState, usage: str) -> tuple[Path, dict[str, int]]:
    from agent.guard import signals_for_llm
    from agent.reports import TimelineEvent, build_postmortem, save_postmortem
    from agent.tracing import current_trace_id, trace_line

    signals, diagnosis, proposal = state["signals"], state["diagnosis"], state.get("proposal")
    # An ongoing incident's post-mortem is re-rendered: its story so far (the incident's timeline, the
    # decisions written into the last rendering) comes first, then this tick's.
    story = [*(state.get("ongoing") or {}).get("timeline", []),
             *([{"at": ctx.clock(), "event": state["tick"]["note"]}] if state.get("tick", {}).get("note") else [])]
    earlier = _earlier(ctx, state["incident_id"])
    earlier_decisions, decided = _earlier_decisions(earlier)
    timeline = [TimelineEvent(at=e["at"], event=e["event"]) for e in [*story, *state.get("timeline", [])]]
    pm = build_postmortem(signals, diagnosis, proposal, incident_id=state["incident_id"],
                          timeline=timeline + decided, usage=usage, links=links_for(ctx, signals), now=ctx.clock(),
                          via=f"triage via {ctx.via}")
    pm.decisions = earlier_decisions + [d for d in pm.decisions if d not in earlier_decisions]
    if earlier is not None and (earlier.proposal_id == pm.proposal_id or earlier.superseded):
        from agent.reports.postmortem_events import rederive

        if earlier.proposal_id == pm.proposal_id:  # the same fix: where it got to still holds
            pm.milestones, pm.steps = list(earlier.milestones), list(earlier.steps)
        pm.superseded = dict(earlier.superseded)  # which proposal replaced which stays said
        pm = rederive(pm)
    spent: dict[str, int] = {}
    model = writer_model(ctx) if diagnosis.brain.startswith("llm") else None
    if model is not None:
        from agent.reports.llm_writer import write_postmortem_with_llm

        pm, raw = write_postmortem_with_llm(model, pm, facts=signals_for_llm(signals), settings=ctx.settings)
        spent = _usage(raw)
    from agent.reports.health_chart import write_health_chart

    # Up to now, not the window's end: the incident this post-mortem is about is opened after the check.
    until = max(ctx.clock(), signals.window_until) + 1
    pm.health_chart = write_health_chart(ctx, signals.model, state["incident_id"], until)
    pm.trace = trace_line(ctx.settings, current_trace_id())  # this tick's trace: its nodes, LLM and tool calls
    return save_postmortem(ctx.layout, pm), spent


def _earlier(ctx: OpsContext, incident_id: str) -> Any:
    """The earlier rendering of this incident's post-mortem, or None."""
    from agent.reports import load_postmortem
    from agent.reports.postmortem_files import report_dir

    try:
        return load_postmortem(report_dir(ctx.layout, incident_id))
    except (FileNotFoundError, ValueError):
        return None


def _earlier_decisions(old: Any) -> tuple[list[str], list[Any]]:
    """The decisions an earlier rendering of this incident's post-mortem holds, and their timeline events."""
    if old is None:
        return [], []
    said = {d.split(" ", 1)[-1] for d in old.decisions}
    return list(old.decisions), [e for e in old.timeline if e.event in said]
