"""The triage graph: gather signals in parallel → recall memory → investigate → diagnose → correlate with
the model's active incident → draft the proposal → file it for approval → write the post-mortem → record.

A tick that finds the cause of the model's active incident again updates that incident (its proposal
refreshed, its post-mortem re-rendered) instead of opening another; ``agent.incident_ticks`` says when a
tick opens, holds, re-labels or resolves one, and when people should hear of it.

The proposal is filed into the approvals inbox, where its own remediation thread pauses on
``interrupt()`` until a person answers (see ``graphs.remediation``): one approval path for triage, chat,
Slack and scheduled runs. Every node works without an LLM; with one, investigation and diagnosis use it
and any failure hands over to the offline policy.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import policy
from agent.context import OpsContext
from agent.diagnosis import Diagnosis, TriageSignals
from agent.incident_ticks import hhmm
from agent.incidents import IncidentRecord
from agent.memory import MemoryHit
from agent.policy.infrastructure import replica_lines, workload_unhealthy
from graphs import llm_steps
from graphs.nodes import brain_name, chat_model_of, ctx_of, event, usage_line
from graphs.signals import gather_deploys, gather_monitoring, signals_from
from graphs.state import TriageState
from tools.catalog import call_tool

RECALL_MIN_SIMILARITY = 0.35


def start(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    until = ctx.clock()
    minutes = float(state.get("window_minutes") or ctx.settings.triage_window_minutes)
    active = ctx.incidents.active(state["model"])  # this tick may be one more of an ongoing incident
    incident = active.id if active else (state.get("incident_id") or f"inc-{uuid.uuid4().hex[:8]}")
    span = f"{minutes * 60:.0f} s" if minutes < 2 else f"{minutes:.0f} min"
    ctx.progress(f"triage of {state['model']}: the last {span}"
                 + (f" (incident {active.id} is active since {hhmm(active.opened_at)})" if active else ""))
    return {"since": until - minutes * 60, "until": until, "window_minutes": minutes, "incident_id": incident,
            "ongoing": active.model_dump(mode="json") if active else None,
            "timeline": [event(until, f"triage started via {ctx.via}")]}


def monitor(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """Drift, realised performance, the label-free estimate, SLOs and data quality share one read of the
    window (one monitoring pass), so they are one branch; deploy history runs beside it."""
    ctx = ctx_of(runtime)
    ctx.progress("checking drift, performance, the label-free estimate and SLOs")
    found = gather_monitoring(ctx, state["model"], state["since"], state["until"])
    return {"monitor": found, "tools_called": ["monitoring_check"],
            "timeline": [event(ctx.clock(), f"monitoring check: {found['summary'].splitlines()[0]}")]}


def deploys(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    ctx.progress("reading serving state and recent deploys")
    return {"deploy": gather_deploys(ctx, state["model"], state["since"]), "tools_called": ["recent_deploys"]}


def assemble_and_recall(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """Join the branches, then recall similar past incidents (only when there is something to recall)."""
    ctx = ctx_of(runtime)
    signals = signals_from(state["model"], state["since"], state["until"], state["monitor"], state["deploy"])
    if flagged(signals):
        query = "; ".join([f"{f.kind} {f.subject}: {f.message}" for f in signals.findings]
                          + [f"serving replica {line}" for line in replica_lines(signals)])[:1000]
        # The active incident's own memory is this incident, not a similar past one.
        hits = [h for h in _recall(ctx, query, signals.model)
                if h.similarity >= RECALL_MIN_SIMILARITY and h.id != (state.get("ongoing") or {}).get("id")]
        signals.similar_incidents = hits
        if hits:
            ctx.progress(f"recalled {len(hits)} similar past incident(s): {', '.join(h.id for h in hits)}")
    return {"signals": signals, "tools_called": ["recall_incidents"]}


def investigate(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """The LLM calls read-only tools; with no LLM (or when it fails) the runbook planner chooses them."""
    ctx = ctx_of(runtime)
    signals = state["signals"].model_copy(deep=True)  # grown with notes below; the state's copy stays as it was
    if not flagged(signals):
        return {}
    model = chat_model_of(ctx)
    if model is not None and not state.get("fallback_reason"):
        try:
            notes, called, messages = llm_steps.investigate(model, ctx, signals)
            signals.notes += notes
            for name in called:
                ctx.progress(f"LLM called {name}")
            return {"signals": signals, "tools_called": called,
                    "usage": llm_steps.usage_of(messages)}
        except llm_steps.LLMUnavailable as exc:
            ctx.progress(f"LLM unavailable ({exc}); the offline policy takes over")
            return {**_planned(ctx, signals), "fallback_reason": str(exc)}
    return _planned(ctx, signals)


def _planned(ctx: OpsContext, signals: TriageSignals) -> dict[str, Any]:
    done: list[str] = []
    for _ in range(policy.MAX_PLANNED_CALLS):
        call = policy.next_tool(signals, done)
        if call is None:
            break
        ctx.progress(f"runbook: {call.name} — {call.why}")
        result = call_tool(ctx, call.name, call.args)
        done.append(call.name)
        signals.notes.append(f"{call.name}: {result[:600]}")
    return {"signals": signals, "tools_called": done}


def diagnose(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    signals = state["signals"]
    model = chat_model_of(ctx)
    reason = state.get("fallback_reason")
    if model is not None and not reason and flagged(signals):
        try:
            from langchain_core.messages import HumanMessage

            from agent.guard import signals_for_llm

            d, raw = llm_steps.diagnose(model, [HumanMessage(signals_for_llm(signals))],
                                        brain_name(ctx, used_llm=True))
            return _diagnosed(ctx, d, usage=llm_steps.usage_of(raw))
        except llm_steps.LLMUnavailable as exc:
            reason = str(exc)
            ctx.progress(f"LLM diagnosis failed ({exc}); the offline policy decides")
    d = policy.diagnose(signals)
    d.brain = brain_name(ctx, used_llm=False, fallback_reason=reason)
    return _diagnosed(ctx, d, fallback_reason=reason)


def _diagnosed(ctx: OpsContext, d: Diagnosis, **extra: Any) -> dict[str, Any]:
    verdict = (f"{d.category} → {d.action}" + (f" (culprit: {', '.join(d.culprit)})" if d.culprit else "")
               if d.detected else "nothing wrong")
    ctx.progress(f"diagnosis by {d.brain}: {verdict}")
    return {"diagnosis": d, "timeline": [event(ctx.clock(), f"diagnosis: {verdict}")],
            **{k: v for k, v in extra.items() if v is not None}}


def correlate(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """What this tick means for the model's active incident: new, ongoing, a cause change held or adopted,
    clearing, or resolved (``agent.incident_ticks.judge``)."""
    from agent.incident_ticks import judge

    ctx = ctx_of(runtime)
    ongoing = IncidentRecord.model_validate(state["ongoing"]) if state.get("ongoing") else None
    tick = judge(ongoing, state["diagnosis"], state["signals"], persist_ticks=ctx.settings.incident_clear_ticks)
    if tick.touches_incident:
        ctx.progress(f"incident {state['incident_id']}: {tick.note}")
    return {"tick": tick.model_dump(mode="json"), "notify": tick.notify}


def route_after_correlate(state: TriageState) -> Literal["draft", "report", "record"]:
    if state["tick"]["kind"] not in ("new", "ongoing", "recause"):
        return "record"  # nothing found, or a cause not (yet) the incident's: nothing to draft or re-render
    return "draft" if state["diagnosis"].action != "none" else "report"


def draft(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    from graphs.incident_record import adopt_pending, repropose_refusal
    from graphs.writing import draft_and_rewrite

    ctx = ctx_of(runtime)
    if (why := repropose_refusal(ctx, state.get("ongoing"))) is not None:
        ctx.progress(why)
        return {"proposal": None, "timeline": [event(ctx.clock(), why)]}
    proposal, usage = draft_and_rewrite(ctx, state["signals"], state["diagnosis"], state["incident_id"])
    if proposal is None:
        return {"proposal": None}
    proposal = adopt_pending(ctx, proposal)  # the incident's pending proposal of this kind, refreshed
    ctx.progress(f"drafted proposal {proposal.id}: {proposal.title}")
    return {"proposal": proposal, "usage": usage,
            "timeline": [event(ctx.clock(), f"proposal {proposal.id} drafted: {proposal.title}")]}


def report(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    from graphs.writing import write_postmortem

    ctx = ctx_of(runtime)
    path, usage = write_postmortem(ctx, state, usage_line(ctx, state.get("usage") or {}))
    ctx.progress(f"post-mortem written: {path}")
    return {"postmortem": str(path), "usage": usage}


def file(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    proposal = state.get("proposal")
    if proposal is None:
        return {}
    message = ctx.file_proposal(proposal) if ctx.file_proposal else "not filed: no approvals inbox in this run"
    ctx.progress(message)
    return {"filed": message, "timeline": [event(ctx.clock(), message)]}


def record(state: TriageState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    from graphs.incident_record import record_tick

    ctx = ctx_of(runtime)
    return {"notify": record_tick(ctx, state)}


def flagged(signals: TriageSignals) -> bool:
    """Something to investigate: a finding, or serving replicas in a bad state (a dead service logs nothing)."""
    return bool(signals.findings) or workload_unhealthy(signals)


def _recall(ctx: OpsContext, query: str, model: str) -> list[MemoryHit]:
    hits = ctx.memory.search(query, k=3, model=model, kind="incident")
    hits += ctx.memory.search(query, k=2, model=model, kind="outcome")
    return sorted(hits, key=lambda h: -h.similarity)[:4]


def build_triage(context_schema: type[OpsContext] = OpsContext
                 ) -> StateGraph[TriageState, OpsContext, TriageState, TriageState]:
    """The graph's builder; ``context_schema``: the context class a run's context becomes (LangGraph's server
    builds it from the run: ``graphs.server``)."""
    builder = StateGraph(TriageState, context_schema=context_schema)
    for name, fn in (("start", start), ("monitor", monitor), ("deploys", deploys),
                     ("recall", assemble_and_recall), ("investigate", investigate), ("diagnose", diagnose),
                     ("correlate", correlate), ("draft", draft), ("report", report), ("file", file),
                     ("record", record)):
        builder.add_node(name, fn)  # type: ignore[call-overload]
    builder.add_edge(START, "start")
    builder.add_edge("start", "monitor")  # the two gather branches run in parallel
    builder.add_edge("start", "deploys")
    builder.add_edge(["monitor", "deploys"], "recall")
    builder.add_edge("recall", "investigate")
    builder.add_edge("investigate", "diagnose")
    builder.add_edge("diagnose", "correlate")
    builder.add_conditional_edges("correlate", route_after_correlate)
    builder.add_edge("draft", "file")  # filed before the post-mortem, which then names the proposal as filed
    builder.add_edge("file", "report")
    builder.add_edge("report", "record")
    builder.add_edge("record", END)
    return builder


graph = build_triage().compile()  # runs use a checkpointer (graphs.runner); langgraph.json: graphs.server
