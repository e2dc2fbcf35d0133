"""Tool calls the offline chat router makes: the typed result for its sentences, and the same compact JSON an
LLM would have seen, kept as the answer's details (``--verbose`` in the terminal, collapsed on the web page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from agent.context import OpsContext
from agent.tracing import tool_span
from tools.catalog import CAUGHT, to_json

R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class ToolCallDone:
    """One tool call: its name, arguments and result (compact JSON, or 'error: ...')."""

    name: str
    args: dict[str, Any]
    result: str


def run_tool(ctx: OpsContext, calls: list[ToolCallDone], func: Callable[..., R], **args: Any) -> R | None:
    """Call ``func(ctx, **args)`` inside its trace span and record it in ``calls``; None when it could not
    answer (a fixable error, recorded as the call's result)."""
    name = func.__name__
    with tool_span(name, args) as span:
        try:
            result: R | None = func(ctx, **args)
            text = to_json(result) if result is not None else ""
        except CAUGHT as exc:
            result, text = None, f"error: {exc}"
        if span is not None:
            span.set_outputs(text)
    calls.append(ToolCallDone(name, args, text))
    return result
