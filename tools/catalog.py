"""The tool catalog: which tools exist, what the LLM sees of them, and one way to call them by name.

Every tool is a plain function ``tool(ctx, **args) -> ToolResult``. The LLM sees only its name, the first
paragraph of its docstring and an argument schema built from its signature *without* ``ctx``; results go
back as compact JSON. No tool here executes a change: proposal tools only file a proposal for approval.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from agent.context import OpsContext
from agent.drafting import DraftError
from agent.settings import Settings
from agent.tracing import tool_span
from tools.common import FIXABLE
from tools.memory_tools import recall_incidents
from tools.monitoring_tools import drift_report, performance, slo_status
from tools.proposal_tools import propose_promote, propose_retrain, propose_rollback, propose_threshold
from tools.registry_tools import (
    compare_versions,
    feature_importance,
    list_models,
    model_status,
    recent_deploys,
    training_run,
)
from tools.web_tools import web_search

MAX_CHARS = 4000
CAUGHT: tuple[type[Exception], ...] = (*FIXABLE, DraftError)
READ_TOOLS: tuple[Callable[..., BaseModel], ...] = (
    list_models, model_status, drift_report, performance, slo_status, compare_versions, training_run,
    recent_deploys, feature_importance, recall_incidents)
PROPOSAL_TOOLS: tuple[Callable[..., BaseModel], ...] = (
    propose_retrain, propose_rollback, propose_promote, propose_threshold)


def first_paragraph(doc: str | None) -> str:
    """The docstring's first paragraph on one line: what the tool does and when to use it."""
    return " ".join(inspect.cleandoc(doc or "").split("\n\n")[0].split())


@dataclass(frozen=True)
class ToolSpec:
    """One LLM-callable tool. ``kind`` declares what it may do: ``read`` tools only read; ``propose`` tools only
    file a proposal for a person to approve. No tool in the catalog changes anything by itself."""

    name: str
    func: Callable[..., BaseModel]
    kind: Literal["read", "propose"]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.description:
            object.__setattr__(self, "description", first_paragraph(self.func.__doc__))


def tool_specs(settings: Settings, *, proposals: bool = True) -> list[ToolSpec]:
    """The tools to offer: read-only ones, web search when a Tavily key is set, proposal tools on request."""
    specs = [ToolSpec(f.__name__, f, "read") for f in READ_TOOLS]
    if settings.tavily_api_key is not None:
        specs.append(ToolSpec("web_search", web_search, "read"))
    if proposals:
        specs += [ToolSpec(f.__name__, f, "propose") for f in PROPOSAL_TOOLS]
    return specs


def _arg_docs(doc: str | None) -> dict[str, str]:
    """'name: description' lines of the docstring's Args section (continuation lines joined)."""
    section = inspect.cleandoc(doc or "").partition("Args:")[2]
    out: dict[str, str] = {}
    last = None
    for line in section.splitlines():
        m = re.match(r"\s{2,}(\w+): (.*)", line)
        if m and not line.startswith(" " * 8):
            last = m.group(1)
            out[last] = m.group(2).strip()
        elif last and line.strip():
            out[last] += " " + line.strip()
    return out


@functools.cache
def args_model(func: Callable[..., Any]) -> type[BaseModel]:
    """The pydantic model of a tool's arguments: its signature minus ``ctx``, described from its docstring."""
    hints = typing.get_type_hints(func)
    docs = _arg_docs(func.__doc__)
    fields: dict[str, Any] = {}
    for name, param in list(inspect.signature(func).parameters.items())[1:]:  # the first is always ctx
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (hints[name], Field(default, description=docs.get(name)))
    return create_model(f"{func.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields)


def _expected(func: Callable[..., Any]) -> str:
    parts = []
    for name, f in args_model(func).model_fields.items():
        kind = getattr(f.annotation, "__name__", None) or str(f.annotation).replace("typing.", "")
        parts.append(f"{name} ({kind}, " + ("required)" if f.is_required() else f"default {f.default!r})"))
    return ", ".join(parts) or "no arguments"


def invalid_arguments(name: str, func: Callable[..., Any], exc: ValidationError) -> str:
    """'error: invalid arguments for X: <problems>; expected: <args>' — what the model must change."""
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors())
    return f"error: invalid arguments for {name}: {problems}; expected: {_expected(func)}"


def to_json(result: BaseModel, limit: int = MAX_CHARS) -> str:
    """Compact JSON of a result, at most ``limit`` characters: long lists are halved until it fits."""
    data = result.model_dump(mode="json", exclude_none=True)
    if data.get("error"):  # an error result: the message (and what the call was about) is the point
        data = result.model_dump(mode="json", exclude_defaults=True)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    while len(text) > limit:
        if not _halve_longest_list(data):
            # Still valid JSON; half the budget because escaping can double the length of the text.
            return json.dumps({"truncated": text[: (limit - 40) // 2]}, ensure_ascii=False)
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return text


def _halve_longest_list(data: Any) -> bool:
    lists: list[list[Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            lists.append(node)
        for child in node.values() if isinstance(node, dict) else node if isinstance(node, list) else ():
            walk(child)

    walk(data)
    longest = max((x for x in lists if len(x) > 1), key=lambda x: len(json.dumps(x)), default=None)
    if longest is None:
        return False
    del longest[len(longest) // 2:]
    return True


def run_spec(ctx: OpsContext, spec: ToolSpec, args: BaseModel) -> str:
    """Run a tool with validated arguments; a fixable failure comes back as an 'error: ...' string."""
    try:
        return to_json(spec.func(ctx, **dict(args)))
    except CAUGHT as exc:
        return f"error: {exc}"


def call_tool(ctx: OpsContext, name: str, args: dict[str, Any] | None = None, *, proposals: bool = True) -> str:
    """Run one tool by name with arguments validated against its schema; returns compact JSON or 'error: ...'."""
    specs = {s.name: s for s in tool_specs(ctx.settings, proposals=proposals)}
    spec = specs.get(name)
    if spec is None:
        return f"error: unknown tool {name!r}; valid tools: {', '.join(specs)}"
    with tool_span(name, args or {}) as span:  # a span of the run's trace, when the run is traced
        try:
            result = run_spec(ctx, spec, args_model(spec.func).model_validate(args or {}))
        except ValidationError as exc:
            result = invalid_arguments(name, spec.func, exc)
        if span is not None:
            span.set_outputs(result)
        return result


def langchain_tools(ctx: OpsContext, *, proposals: bool = True) -> list[BaseTool]:
    """The catalog as LangChain ``StructuredTool``s with ``ctx`` bound; the LLM-visible schema has no ``ctx``."""
    tools: list[BaseTool] = []
    for spec in tool_specs(ctx.settings, proposals=proposals):
        tools.append(StructuredTool.from_function(
            func=_bound(ctx, spec), name=spec.name, description=spec.description, args_schema=args_model(spec.func),
            handle_validation_error=functools.partial(invalid_arguments, spec.name, spec.func)))
    return tools


def _bound(ctx: OpsContext, spec: ToolSpec) -> Callable[..., str]:
    def run(**kwargs: Any) -> str:
        return run_spec(ctx, spec, args_model(spec.func).model_validate(kwargs))

    return run
