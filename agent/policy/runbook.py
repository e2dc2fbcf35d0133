"""The offline runbook planner: which read-only tools to call for this window's diagnosis, in order.

The tools' results go into ``TriageSignals.notes`` as evidence for people and the LLM; no rule reads them,
so the plan is the same before and after each call (``next_tool`` only skips what is done).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agent.diagnosis import TriageSignals
from agent.policy.infrastructure import workload_unhealthy
from agent.policy.readers import slow_versions
from agent.policy.rules import decide

MAX_PLANNED_CALLS = 4


class PlannedCall(BaseModel):
    """One read-only tool call the runbook wants next, and why."""

    name: str
    args: dict[str, Any]
    why: str


def _minutes(signals: TriageSignals) -> float:
    return max(1.0, round((signals.window_until - signals.window_since) / 60, 1))


def _recall(signals: TriageSignals, query: str) -> PlannedCall:
    return PlannedCall(name="recall_incidents", args={"query": query, "model": signals.model, "k": 3},
                       why="similar past incidents and what fixed them")


def _release_calls(signals: TriageSignals, category: str, culprit: list[str]) -> list[PlannedCall]:
    """A failing, slow or bad release: per-version service levels, the deploy history, the version diff."""
    model, d = signals.model, signals.deploy
    calls: list[PlannedCall] = []
    if not slow_versions(signals) and category != "bad_release":
        calls.append(PlannedCall(name="slo_status", args={"model": model, "window_minutes": _minutes(signals)},
                                 why="per-version latency: a timeout and a crash both show as errors"))
    if not signals.recent_deploys:
        calls.append(PlannedCall(name="recent_deploys", args={"model": model, "limit": 5},
                                 why="which version went live, and when"))
    suspect = culprit[0] if culprit else d.canary
    other = d.champion if suspect != d.champion else d.previous_champion
    if suspect and other and suspect != other:
        calls.append(PlannedCall(name="compare_versions",
                                 args={"model": model, "version_a": other, "version_b": suspect},
                                 why=f"what changed between v{other} and v{suspect}"))
    return calls


def plan(signals: TriageSignals) -> list[PlannedCall]:
    """The runbook for this window's findings, in order (``next_tool`` skips what is done)."""
    if not signals.findings and not workload_unhealthy(signals):
        return []
    category, culprit, *_ = decide(signals)
    model, minutes, d = signals.model, _minutes(signals), signals.deploy
    calls: list[PlannedCall] = []
    if not d.champion:
        calls.append(PlannedCall(name="model_status", args={"model": model}, why="find the champion and canary"))
    if category == "infrastructure":
        calls.append(PlannedCall(name="slo_status", args={"model": model, "window_minutes": minutes},
                                 why="what the requests saw while the replicas were down: errors, fallbacks, latency"))
        calls.append(_recall(signals, f"scoring service for {model} crashed, restarting or unready"))
    elif category in ("latency", "errors", "bad_release"):
        calls += _release_calls(signals, category, culprit)
    elif category == "data_quality":
        calls.append(PlannedCall(name="slo_status", args={"model": model, "window_minutes": minutes},
                                 why="how many requests the service rejected"))
        calls.append(_recall(signals, f"rejected, null or implausible values in {', '.join(culprit) or 'inputs'}"))
    else:
        if category in ("concept_drift", "label_shift") or (category == "data_drift" and signals.n_labelled):
            calls.append(PlannedCall(name="performance", args={"model": model, "window_minutes": minutes},
                                     why="realised and estimated performance over the window"))
        calls.append(PlannedCall(name="training_run", args={"model": model, "version": d.champion or "champion"},
                                 why="the champion's training data fingerprint and metrics, to cite"))
        topic = f"drift in {', '.join(culprit)}" if culprit else category.replace("_", " ")
        calls.append(_recall(signals, f"{topic} on {model}"))
    # Triage recalls memory before investigating; a second, narrower query only helps when that found nothing.
    if signals.similar_incidents:
        calls = [c for c in calls if c.name != "recall_incidents"]
    return calls[:MAX_PLANNED_CALLS]


def next_tool(signals: TriageSignals, done: Sequence[str]) -> PlannedCall | None:
    """The next read-only tool to call, or None when the investigation is complete (at most 4 calls)."""
    if len(done) >= MAX_PLANNED_CALLS:
        return None
    return next((c for c in plan(signals) if c.name not in done), None)
