"""Small helpers every graph's nodes share: the context, the brain, timeline events, usage lines."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from agent.context import OpsContext


class MissingContext(RuntimeError):
    """A graph ran without an ``OpsContext``: settings are built at the edge (CLI, serve, scheduler), never here."""


def ctx_of(runtime: Runtime[OpsContext] | None) -> OpsContext:
    """The run's context, which the caller built from settings at its edge and passed as ``context=``."""
    ctx = runtime.context if runtime is not None else None
    if not isinstance(ctx, OpsContext):
        raise MissingContext("this graph needs context=OpsContext(settings) at invoke time; run it through "
                             "graphs.runner.GraphRunner (opsagent triage / chat / serve)")
    return ctx


def chat_model_of(ctx: OpsContext) -> Any:
    """The chat model to use: an injected one (tests), the configured endpoint, or None (offline policy)."""
    if ctx.chat_model is not None:
        return ctx.chat_model
    from agent.llm import make_chat_model

    return make_chat_model(ctx.settings)


def brain_name(ctx: OpsContext, *, used_llm: bool, fallback_reason: str | None = None) -> str:
    if ctx.chat_model is not None and used_llm:
        return f"llm {getattr(ctx.chat_model, 'model_name', None) or type(ctx.chat_model).__name__}"
    from agent.llm import brain_label

    return brain_label(ctx.settings, used_llm=used_llm, fallback_reason=fallback_reason)


def event(at: float, text: str) -> dict[str, Any]:
    return {"at": at, "event": text}


def usage_line(ctx: OpsContext, usage: dict[str, int]) -> str:
    """'2 LLM calls, 1,234 in / 321 out tokens, est. $0.0004' — shown in every report.

    Usage is kept in graph state (so it survives a restart) and formatted by the one UsageMeter."""
    from agent.llm import UsageMeter

    meter = UsageMeter()
    meter.calls = usage.get("llm_calls", 0)
    meter.input_tokens = usage.get("input_tokens", 0)
    meter.output_tokens = usage.get("output_tokens", 0)
    return meter.line(ctx.settings)
