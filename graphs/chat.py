"""The chat graph: a ReAct loop over the read-only tools, plus starting a triage and filing proposals
(which only reach the approvals inbox). History is kept per thread by the checkpointer.

With no LLM (or when it fails) the offline router still answers the common questions — status, drift,
performance, SLOs, compare, incidents, approvals, triage — by calling the matching tool, and says that
an LLM would answer more.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.context import OpsContext
from agent.guard import as_tool_data
from agent.prompts import CHAT_SYSTEM
from agent.tracing import tool_span
from graphs.chat_history import fit_to_context, tools_tokens
from graphs.chat_offline import OfflineReply, offline_reply, start_triage
from graphs.nodes import brain_name, chat_model_of, ctx_of
from graphs.state import ChatState
from tools.catalog import call_tool, langchain_tools

MAX_TOOL_ROUNDS = 6


def _triage_tool(ctx: OpsContext) -> StructuredTool:
    def run(model: str) -> str:
        """Start a full triage of one model now: checks drift, performance, SLOs and past incidents, writes a
        post-mortem and files a proposal for human approval when something is wrong. Takes up to a minute."""
        return start_triage(ctx, model)

    return StructuredTool.from_function(run, name="start_triage")


def _rounds_since_human(messages: list[Any]) -> int:
    rounds = 0
    for m in reversed(messages):
        if isinstance(m, HumanMessage):
            break
        if isinstance(m, AIMessage) and m.tool_calls:
            rounds += 1
    return rounds


def _prompt(ctx: OpsContext, messages: list[Any], tools: Sequence[BaseTool]) -> list[Any]:
    """The system prompt and the thread, trimmed to what the model's context holds beside the tools' schemas
    and the answer (``graphs.chat_history``)."""
    budget = ctx.settings.llm_context_tokens - ctx.settings.llm_max_tokens - tools_tokens(tools)
    prompt = fit_to_context(SystemMessage(CHAT_SYSTEM), messages, budget)
    if len(prompt) < len(messages) + 1:
        ctx.progress(f"chat history trimmed to the context: {len(prompt) - 1} of {len(messages)} messages sent")
    return prompt


def offline_messages(reply: OfflineReply) -> list[Any]:
    """The offline answer as the thread keeps an LLM's: its tool calls and their results, then the answer, so
    every interface shows the details the same way (and a later LLM turn sees what was looked up)."""
    if not reply.calls:
        return [AIMessage(reply.text)]
    ids = [f"offline-{uuid.uuid4().hex[:12]}" for _ in reply.calls]
    asked = AIMessage("", tool_calls=[{"name": c.name, "args": c.args, "id": i, "type": "tool_call"}
                                      for c, i in zip(reply.calls, ids, strict=True)])
    results = [ToolMessage(as_tool_data(c.result), tool_call_id=i, name=c.name)
               for c, i in zip(reply.calls, ids, strict=True)]
    return [asked, *results, AIMessage(reply.text)]


def agent(state: ChatState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    model = chat_model_of(ctx)
    question = next((m for m in reversed(state["messages"]) if isinstance(m, HumanMessage)), None)
    if model is None:
        reply = offline_reply(ctx, str(question.content) if question else "")
        return {"messages": offline_messages(reply), "brain": brain_name(ctx, used_llm=False)}
    tools = [*langchain_tools(ctx, proposals=True), _triage_tool(ctx)]
    try:
        with_tools = _rounds_since_human(state["messages"]) < MAX_TOOL_ROUNDS
        bound = model.bind_tools(tools) if with_tools else model
        reply = bound.invoke(_prompt(ctx, state["messages"], tools if with_tools else []))
        if getattr(reply, "invalid_tool_calls", None):
            raise ValueError("the LLM returned an invalid tool call")
        known = {t.name for t in tools}
        bad = [tc["name"] for tc in reply.tool_calls if tc["name"] not in known]
        if bad:
            raise ValueError(f"the LLM called unknown tool(s) {bad}")
    except Exception as exc:  # LLM down, timed out or confused: the offline router answers
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
        reply = offline_reply(ctx, str(question.content) if question else "")
        reply.text = f"(LLM unavailable — {reason}; the offline policy answered)\n\n{reply.text}"
        return {"messages": offline_messages(reply),
                "brain": brain_name(ctx, used_llm=False, fallback_reason=reason)}
    return {"messages": [reply], "brain": brain_name(ctx, used_llm=True)}


def tools(state: ChatState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    last = state["messages"][-1]
    out = []
    for tc in getattr(last, "tool_calls", []):
        ctx.progress(f"tool {tc['name']}({', '.join(f'{k}={v!r}' for k, v in (tc.get('args') or {}).items())})")
        if tc["name"] == "start_triage":
            with tool_span("start_triage", tc.get("args") or {}):  # the triage's own run nests inside it
                try:
                    result = start_triage(ctx, str((tc.get("args") or {}).get("model") or ctx.settings.model_name))
                except Exception as exc:  # errors go back to the model as data
                    result = f"error: triage failed: {exc}"
        else:
            result = call_tool(ctx, tc["name"], tc.get("args") or {})
        out.append(ToolMessage(as_tool_data(result), tool_call_id=tc.get("id") or tc["name"], name=tc["name"]))
    return {"messages": out}


def route(state: ChatState) -> Literal["tools", "__end__"]:
    last = state["messages"][-1]
    return "tools" if isinstance(last, AIMessage) and last.tool_calls else "__end__"


def build_chat(context_schema: type[OpsContext] = OpsContext
               ) -> StateGraph[ChatState, OpsContext, ChatState, ChatState]:
    """The graph's builder; ``context_schema``: the context class a run's context becomes (LangGraph's server
    builds it from the run: ``graphs.server``)."""
    builder = StateGraph(ChatState, context_schema=context_schema)
    builder.add_node("agent", agent)  # type: ignore[call-overload]
    builder.add_node("tools", tools)  # type: ignore[call-overload]
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, {"tools": "tools", "__end__": END})
    builder.add_edge("tools", "agent")
    return builder


graph = build_chat().compile()  # runs use a checkpointer (graphs.runner); langgraph.json: graphs.server
