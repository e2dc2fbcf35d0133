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
    links["prediction log"] = str(ctx.layout.predictions_db(signals.model))
    return links


def write_postmortem(ctx: OpsContext, state: TriageState, usage: str) -> tuple[Path, dict[str, int]]:
    from agent.guard import signals_for_llm
    from agent.reports import TimelineEvent, build_postmortem, save_postmortem

    signals, diagnosis, proposal = state["signals"], state["diagnosis"], state.get("proposal")
    timeline = [TimelineEvent.model_validate(e) for e in state.get("timeline", [])]
    pm = build_postmortem(signals, diagnosis, proposal, incident_id=state["incident_id"], timeline=timeline,
                          usage=usage, links=links_for(ctx, signals), now=ctx.clock())
    spent: dict[str, int] = {}
    model = writer_model(ctx) if diagnosis.brain.startswith("llm") else None
    if model is not None:
        from agent.reports.llm_writer import write_postmortem_with_llm

        pm, raw = write_postmortem_with_llm(model, pm, facts=signals_for_llm(signals), settings=ctx.settings)
        spent = _usage(raw)
    return save_postmortem(ctx.layout, pm), spent


def record_incident(ctx: OpsContext, state: TriageState) -> None:
    """The incident in the store (for `opsagent incidents`) and in memory (for the next triage's recall)."""
    d = state["diagnosis"]
    if not d.detected:
        ctx.progress("nothing wrong: no incident opened")
        return
    signals, proposal = state["signals"], state.get("proposal")
    proposal_id = proposal.id if proposal else None
    usage = state.get("usage") or {}
    memory_text = (f"{signals.model}: {d.category} — {d.summary} Findings: "
                   + "; ".join(f"{f.kind} {f.subject}" for f in signals.findings)
                   + f". Action proposed: {d.action}.")
    memory_id = ctx.memory.record("incident", memory_text, model=signals.model, memory_id=state["incident_id"],
                                  metadata={"category": d.category, "action": d.action,
                                            "culprit": ", ".join(d.culprit), "proposal": proposal_id or "",
                                            "postmortem": state.get("postmortem") or "", "brain": d.brain})
    from agent.llm import cost_usd

    cost = cost_usd(ctx.settings, usage.get("input_tokens", 0), usage.get("output_tokens", 0))
    ctx.incidents.open(
        signals.model, id=state["incident_id"], window_since=signals.window_since,
        window_until=signals.window_until, status="proposed" if proposal else "no_action", category=d.category,
        culprit=d.culprit, action=d.action, summary=d.summary, brain=d.brain,
        postmortem_path=state.get("postmortem"), proposal_id=proposal_id, memory_id=memory_id,
        tokens_in=usage.get("input_tokens", 0), tokens_out=usage.get("output_tokens", 0), cost_usd=cost)
    ctx.progress(f"incident {state['incident_id']} recorded (memory {memory_id})")
