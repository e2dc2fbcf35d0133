"""The LLM's share of triage: investigate with read-only tools, then state a typed diagnosis.

Anything unexpected — an exception, a timeout, a tool call that names no tool or carries bad arguments,
output that does not validate — raises ``LLMUnavailable`` and the offline policy takes over.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from pydantic import BaseModel, Field, ValidationError

from agent.context import OpsContext
from agent.diagnosis import Action, Diagnosis, TriageSignals
from agent.guard import as_tool_data, signals_for_llm
from agent.prompts import DIAGNOSIS_INSTRUCTIONS, TRIAGE_SYSTEM
from agent.proposals import Evidence
from ml_core.simulator.scenario import Category
from tools.catalog import call_tool, langchain_tools

MAX_TOOL_ROUNDS = 4


class LLMUnavailable(RuntimeError):
    """The LLM failed in a way the offline policy must cover; the message says how."""


class LLMDiagnosis(BaseModel):
    """Your conclusion about the incident. Use only the allowed categories and actions."""

    detected: bool = Field(description="true when something is wrong with the model, its data or "
                          "the platform serving it")
    category: Category = Field(description="root-cause category")
    culprit: list[str] = Field(default_factory=list, description="features or versions to blame")
    action: Action = Field(description="the one action to propose")
    summary: str = Field(description="two or three sentences for an on-call engineer")
    evidence: list[str] = Field(default_factory=list, description="the facts that support it, one per item")
    confidence: float = Field(0.5, ge=0, le=1)


def usage_of(messages: list[BaseMessage]) -> dict[str, int]:
    """LLM calls and tokens, from the usage metadata of the model's messages."""
    calls = tokens_in = tokens_out = 0
    for m in messages:
        if isinstance(m, AIMessage):
            calls += 1
            meta: dict[str, Any] = dict(m.usage_metadata or {})
            tokens_in += int(meta.get("input_tokens", 0))
            tokens_out += int(meta.get("output_tokens", 0))
    return {"llm_calls": calls, "input_tokens": tokens_in, "output_tokens": tokens_out}


def investigate(chat_model: Any, ctx: OpsContext, signals: TriageSignals
                ) -> tuple[list[str], list[str], list[BaseMessage]]:
    """Let the LLM call read-only tools (never proposals) for a few rounds; returns notes, calls, messages."""
    tools = {t.name: t for t in langchain_tools(ctx, proposals=False)}
    bound = chat_model.bind_tools(list(tools.values()))
    messages: list[BaseMessage] = [SystemMessage(TRIAGE_SYSTEM), HumanMessage(signals_for_llm(signals))]
    notes: list[str] = []
    called: list[str] = []
    for _ in range(MAX_TOOL_ROUNDS):
        reply = _call(bound, messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for tc in reply.tool_calls:
            if tc["name"] not in tools:
                raise LLMUnavailable(f"invalid tool call: no tool named {tc['name']!r}")
            result = call_tool(ctx, tc["name"], tc.get("args") or {})
            if result.startswith("error: invalid arguments"):
                raise LLMUnavailable(f"invalid tool call {tc['name']}: {result[:200]}")
            called.append(tc["name"])
            notes.append(f"{tc['name']}({_args(tc.get('args') or {})}): {result[:600]}")
            messages.append(ToolMessage(as_tool_data(result), tool_call_id=tc.get("id") or tc["name"]))
    return notes, called, messages


def diagnose(chat_model: Any, messages: list[BaseMessage], brain: str) -> tuple[Diagnosis, list[BaseMessage]]:
    """Ask for the typed diagnosis after the investigation."""
    structured = chat_model.with_structured_output(LLMDiagnosis, include_raw=True)
    prompt = [*messages, HumanMessage(DIAGNOSIS_INSTRUCTIONS)]
    try:
        out = structured.invoke(prompt)
    except Exception as exc:  # network, timeout, provider errors: all mean "fall back"
        raise LLMUnavailable(_short(exc)) from exc
    raw = out.get("raw") if isinstance(out, dict) else None
    parsed = out.get("parsed") if isinstance(out, dict) else out
    if parsed is None or out.get("parsing_error"):
        raise LLMUnavailable(f"invalid diagnosis from the LLM: {_short(out.get('parsing_error'))}")
    try:
        d = LLMDiagnosis.model_validate(parsed)
    except ValidationError as exc:
        raise LLMUnavailable(f"invalid diagnosis from the LLM: {_short(exc)}") from exc
    diagnosis = Diagnosis(detected=d.detected, category=d.category, culprit=d.culprit, action=d.action,
                          summary=d.summary, evidence=[Evidence(source="llm", detail=e) for e in d.evidence],
                          confidence=d.confidence, brain=brain)
    return diagnosis, [raw] if isinstance(raw, BaseMessage) else []


def _call(bound: Any, messages: list[BaseMessage]) -> AIMessage:
    try:
        reply = bound.invoke(messages)
    except Exception as exc:
        raise LLMUnavailable(_short(exc)) from exc
    if getattr(reply, "invalid_tool_calls", None):
        raise LLMUnavailable(f"invalid tool call: {reply.invalid_tool_calls[0].get('error') or 'unparsable'}")
    return reply


def _args(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def _short(exc: object) -> str:
    text = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    return text.splitlines()[0][:200] if text else "unknown error"
