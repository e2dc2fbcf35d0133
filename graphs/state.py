"""Graph state, declared once per graph; reducers say how parallel branches merge.

The proposal, the person's answer, the signals and the diagnosis are typed objects: parsed once where they
enter (the inbox, a resume, the checkpoint: ``graphs.serde`` rebuilds them) and typed inside every node.
Everything else is JSON-able."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from agent.diagnosis import Diagnosis, TriageSignals
from agent.proposals import HumanResponse, Proposal


def add_usage(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    """Sum LLM usage counters (calls, input/output tokens) across nodes."""
    out = dict(left or {})
    for key, value in (right or {}).items():
        out[key] = out.get(key, 0) + value
    return out


class TriageState(TypedDict, total=False):
    model: str  # the model under triage
    window_minutes: float  # how far back the triage looks
    since: float  # window start, fixed once so every branch reads the same rows
    until: float  # window end
    incident_id: str  # the id this triage's incident, post-mortem and proposal share
    monitor: dict[str, Any]  # one monitoring pass: findings, metrics, drift report files
    deploy: dict[str, Any]  # serving state and recent registry changes
    signals: TriageSignals  # assembled from the branches and grown by investigation
    tools_called: Annotated[list[str], operator.add]  # every tool call, in order, for the trace
    timeline: Annotated[list[dict[str, Any]], operator.add]  # TimelineEvent dicts
    usage: Annotated[dict[str, int], add_usage]  # LLM calls and tokens of this run
    diagnosis: Diagnosis  # what triage concluded
    fallback_reason: str | None  # why the offline policy took over from the LLM, if it did
    proposal: Proposal | None  # the drafted proposal, None when no action
    postmortem: str | None  # path of the post-mortem Markdown
    filed: str | None  # what filing the proposal said
    ongoing: dict[str, Any] | None  # the model's active incident when this tick started (IncidentRecord JSON)
    tick: dict[str, Any]  # what this tick means for that incident (agent.incident_ticks.Tick JSON)
    notify: str  # why people should hear of this tick; "" when it is only recorded


class RemediationState(TypedDict, total=False):
    proposal: Proposal  # the proposal as filed, then as edited or revised
    source: str  # interface that filed it
    response: HumanResponse | None  # the latest answer
    comments: Annotated[list[str], operator.add]  # free-text responses, oldest first
    status: str  # accepted, rejected, refused, executed, failed, interrupted
    execution: dict[str, Any]  # graphs.execute.Execution as a dict: the phase reached, checkpointed per phase
    steps: Annotated[list[str], operator.add]  # what was executed, one line each
    result: dict[str, Any]  # ids and figures of the execution (version, run id, gate, canary)
    verified: bool  # the post-execution check passed
    outcome: str  # one line for memory, the audit log and the post-mortem


class ChatState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]  # the thread's conversation, kept per thread
    brain: str  # which brain answered last
