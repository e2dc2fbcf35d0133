"""opsagent's tools as an MCP server, on the official SDK (``mcp.server.mcpserver.MCPServer``, FastMCP's 2.x name).

What an MCP client gets is what the LLM gets inside opsagent: the catalog's tools (``tools.catalog``) with the same
names, descriptions and argument schemas, and the same compact, size-bounded JSON results. The read-only tools
run freely; the proposal tools only *file* a proposal into the approvals inbox, paused for a person to approve
(web page, Slack, CLI). There is no tool that approves, executes, deploys or rolls back.

Each call runs with its own context, whose actor is the caller (the bearer token's user over HTTP, the OS user
over stdio) and whose interface is ``mcp``: a filed proposal is audited as ``proposed`` by that actor via ``mcp``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from agent.context import OpsContext, SharedHandles
from agent.settings import Settings
from tools.catalog import ToolSpec, args_model, call_tool, tool_specs

VIA = "mcp"
SERVER_NAME = "opsagent"
INSTRUCTIONS = (
    "opsagent watches ML models in production. Read-only tools inspect the model registry, deployments, drift, "
    "performance, SLOs and past incidents. The propose_* tools file a proposal for a person to approve in "
    "opsagent's inbox; nothing here changes a model, a deployment or a threshold by itself. Start with "
    "list_models when you do not know the model names.")
# Who is calling, from the request's context (an HTTP request carries the signed-in user; stdio has the OS user).
ActorOf = Callable[[Context], str]


def _annotations(spec: ToolSpec) -> ToolAnnotations:
    if spec.kind == "read":
        return ToolAnnotations(title=spec.name, read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                               open_world_hint=spec.name == "web_search")
    # Filing adds a pending proposal (it changes the inbox, never a model); filing twice refreshes the first.
    return ToolAnnotations(title=spec.name, read_only_hint=False, destructive_hint=False, idempotent_hint=False,
                           open_world_hint=False)


def _signature(spec: ToolSpec) -> tuple[inspect.Signature, dict[str, Any]]:
    """The tool's parameters as the catalog declares them (minus ``ctx``), plus the SDK's ``context``."""
    params, hints = [], {}
    for name, info in args_model(spec.func).model_fields.items():
        hint = Annotated[info.annotation, Field(description=info.description)]  # type: ignore[name-defined]
        default = inspect.Parameter.empty if info.is_required() else info.default
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint))
        hints[name] = hint
    params.append(inspect.Parameter("context", inspect.Parameter.KEYWORD_ONLY, annotation=Context))
    hints["context"] = Context
    hints["return"] = CallToolResult
    return inspect.Signature(params, return_annotation=CallToolResult), hints


def _result(text: str) -> CallToolResult:
    """The catalog's text as the call's content; a failure the caller can fix ('error: ...' from the catalog, or a
    result with ``error`` set) is flagged ``is_error``, with the same text the LLM would read."""
    failed = text.startswith("error:")
    if not failed:
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        failed = isinstance(data, dict) and bool(data.get("error"))
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=failed)


def _runner(spec: ToolSpec, settings: Settings, shared: SharedHandles, actor_of: ActorOf) -> Callable[..., Any]:
    def run(*, context: Context, **arguments: Any) -> CallToolResult:
        with OpsContext(settings, actor=actor_of(context), via=VIA, shared=shared) as ctx:
            if spec.kind != "propose":
                return _result(call_tool(ctx, spec.name, arguments, proposals=False))
            from graphs.runner import GraphRunner  # sets ctx.file_proposal: the remediation thread, paused

            with GraphRunner(ctx):
                return _result(call_tool(ctx, spec.name, arguments))

    signature, hints = _signature(spec)
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = hints
    run.__name__ = spec.name
    run.__doc__ = spec.func.__doc__
    return run


def mcp_tool(spec: ToolSpec, settings: Settings, shared: SharedHandles, actor_of: ActorOf) -> Tool:
    """One catalog tool as an MCP tool: the description the LLM sees in opsagent, and the catalog's own input
    schema (``args_model``: its fields, descriptions, defaults, and no unknown arguments)."""
    tool = Tool.from_function(_runner(spec, settings, shared, actor_of), name=spec.name, description=spec.description,
                              annotations=_annotations(spec), structured_output=False)
    return tool.model_copy(update={"parameters": args_model(spec.func).model_json_schema()})


def build_mcp_server(settings: Settings, *, actor_of: ActorOf, shared: SharedHandles | None = None) -> MCPServer:
    """The MCP server over ``settings``' home: every read-only tool of the catalog and the proposal tools."""
    shared = shared or SharedHandles(settings)
    tools = [mcp_tool(spec, settings, shared, actor_of) for spec in tool_specs(settings, proposals=True)]
    return MCPServer(SERVER_NAME, instructions=INSTRUCTIONS, version=_version(), tools=tools, log_level="WARNING")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("opsagent")
    except PackageNotFoundError:
        return "0"
