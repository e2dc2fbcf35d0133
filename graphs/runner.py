"""Run the graphs with the SQLite checkpointer: triage a model, file a proposal (its remediation thread
pauses for approval), answer a pending proposal — from any interface, in this process or after a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from langchain_core.runnables import RunnableConfig
from langgraph.pregel import Pregel
from langgraph.types import Command

from agent.approvals import ApprovalError, not_pending
from agent.context import OpsContext
from agent.diagnosis import Diagnosis
from agent.proposals import Edit, HumanResponse, Proposal
from agent.tracing import traced_run
from graphs.chat import build_chat
from graphs.checkpoint import open_checkpointer
from graphs.nodes import usage_line
from graphs.remediation import build_remediation
from graphs.state import ChatState, TriageState
from graphs.triage import build_triage

# A "result" event carries the whole of a tool's result as the thread keeps it (4,000 characters and its data
# markers), so a terminal's --verbose and the web page's collapsed box can show it all.
RESULT_EVENT_CHARS = 4200
_Graph = TypeVar("_Graph", bound=Pregel[Any, Any, Any, Any])


@dataclass
class TriageOutcome:
    incident_id: str
    model: str
    diagnosis: Diagnosis
    proposal_id: str | None
    postmortem: str | None
    filed: str | None
    usage: str
    tools_called: list[str] = field(default_factory=list)
    summary: str = ""
    tick: str = "new"  # what the run meant for the model's active incident (agent.incident_ticks.TickKind)
    notify: str = ""  # why people should hear of it; "" when it is only recorded (an unchanged ongoing incident)
    note: str = ""  # the line it added to the incident's timeline
    thread_id: str = ""  # this run's triage thread (an ongoing incident's later ticks each have their own)
    trace_id: str | None = None  # this run's MLflow trace (agent.tracing); None when tracing is off


@dataclass
class RemediationOutcome:
    proposal_id: str
    status: str  # pending (asked again after a response), rejected, refused, executed, failed, interrupted
    outcome: str
    verified: bool = False
    steps: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)


class GraphRunner:
    """Compiled graphs bound to one context and one checkpointer. Use as a context manager."""

    def __init__(self, ctx: OpsContext):
        self.ctx = ctx
        self._stack = ExitStack()
        saver = self._stack.enter_context(open_checkpointer(ctx.layout))
        self.triage_graph = self._with_callbacks(build_triage().compile(checkpointer=saver))
        self.remediation_graph = self._with_callbacks(build_remediation().compile(checkpointer=saver))
        self.chat_graph = self._with_callbacks(build_chat().compile(checkpointer=saver))
        self.saver = saver
        if ctx.file_proposal is None:
            ctx.file_proposal = self.file_proposal
        if ctx.start_triage is None:
            ctx.start_triage = self.triage_verdict

    def _with_callbacks(self, graph: _Graph) -> _Graph:
        """The graph with the context's callbacks in its config: every run, and each LLM call inside, reports to
        them (`opsagent serve` counts LLM calls and tokens so); unchanged when the context has none."""
        return graph.with_config(callbacks=list(self.ctx.callbacks)) if self.ctx.callbacks else graph

    def __enter__(self) -> GraphRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    # ---- triage --------------------------------------------------------------------------------
    def triage(self, model: str, *, window_minutes: float | None = None, thread_id: str | None = None
               ) -> TriageOutcome:
        import uuid

        incident = thread_id or f"inc-{uuid.uuid4().hex[:8]}"
        state: TriageState = {"model": model, "incident_id": incident}
        if window_minutes is not None:
            state["window_minutes"] = window_minutes
        with traced_run(self.ctx.settings, f"triage {model}", inputs=dict(state),
                        attributes={"thread_id": f"triage-{incident}", "via": self.ctx.via}) as trace:
            out = self.triage_graph.invoke(state, trace.config({"configurable": {"thread_id": f"triage-{incident}"}}),
                                           context=self.ctx)
        proposal = out.get("proposal")
        return TriageOutcome(
            incident_id=out["incident_id"], model=model, diagnosis=out["diagnosis"],
            proposal_id=proposal.id if proposal else None, postmortem=out.get("postmortem"),
            filed=out.get("filed"), usage=usage_line(self.ctx, out.get("usage") or {}),
            tools_called=list(out.get("tools_called") or []), summary=out["signals"].summary,
            tick=(out.get("tick") or {}).get("kind", "new"), notify=out.get("notify") or "",
            note=(out.get("tick") or {}).get("note", ""), thread_id=f"triage-{incident}", trace_id=trace.trace_id)

    def triage_verdict(self, model: str) -> str:
        """Triage ``model`` now and say in one line what it found (chat's start_triage tool)."""
        out = self.triage(model)
        d = out.diagnosis
        verdict = f"{d.category}: {d.summary}" if d.detected else "nothing wrong found"
        return (f"triage {out.incident_id} by {d.brain}: {verdict}"
                + (f"; proposal {out.proposal_id} awaits approval" if out.proposal_id else "")
                + (f"; post-mortem {out.postmortem}" if out.postmortem else ""))

    # ---- proposals -----------------------------------------------------------------------------
    def file_proposal(self, proposal: Proposal) -> str:
        """Put the proposal in the inbox and start its remediation thread, which pauses for approval
        (``graphs.filing``: a pending proposal of the same incident is refreshed or superseded)."""
        from graphs.filing import file_proposal

        return file_proposal(self.ctx, proposal, self)

    # ProposalThreads (graphs.filing): remediation threads in this home's checkpointer, thread id = proposal id.
    def thread_id(self, proposal: Proposal) -> str:
        return proposal.id

    def start(self, thread_id: str, proposal: Proposal) -> None:
        with traced_run(self.ctx.settings, f"remediation {proposal.id}", attributes={"step": "file"}) as trace:
            self.remediation_graph.invoke({"proposal": proposal, "source": self.ctx.via},
                                          trace.config({"configurable": {"thread_id": thread_id}}),
                                          context=self.ctx, durability="sync")

    def refresh(self, thread_id: str, proposal: Proposal) -> None:
        # The thread executes the proposal in its state: move it there too, as a revision does, so it asks
        # again (a fresh interrupt) with the refreshed proposal.
        config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
        self.remediation_graph.update_state(config, {"proposal": proposal}, as_node="revise")  # type: ignore[arg-type]
        with traced_run(self.ctx.settings, f"remediation {proposal.id}", attributes={"step": "refresh"}) as trace:
            self.remediation_graph.invoke(None, trace.config(config), context=self.ctx,  # type: ignore[call-overload]
                                          durability="sync")  # to the interrupt

    def pending_request(self, proposal_id: str) -> dict[str, Any] | None:
        """The Agent-Inbox request the proposal's thread is paused on, or None if it is not paused."""
        record = self.ctx.approvals.get(proposal_id)
        snapshot = self.remediation_graph.get_state({"configurable": {"thread_id": record.thread_id}})
        for task in snapshot.tasks:
            for it in task.interrupts:  # interrupt([HumanInterrupt]); threads paused before it was a list: one
                return dict(it.value[0] if isinstance(it.value, list) else it.value)
        return None

    def answer(self, proposal_id: str, response: HumanResponse) -> RemediationOutcome:
        """Resume the proposal's thread with a person's answer; runs remediation to its end on accept."""
        record = self.ctx.approvals.get(proposal_id)
        if record.status != "pending":
            raise ApprovalError(not_pending(record))
        if isinstance(response, Edit) and response.proposal is None:
            response = response.validated(record.proposal)  # raises ProposalEditError saying what is wrong
        if self.pending_request(record.proposal.id) is None:
            if record.source == "langgraph-api":
                raise ApprovalError(f"proposal {record.proposal.id} waits in LangGraph server thread "
                                    f"{record.thread_id}; answer it there (Agent Inbox or Studio, graph remediation)")
            raise ApprovalError(f"proposal {record.proposal.id} has no paused thread in this home's checkpoints "
                                f"({self.ctx.layout.checkpoints_db}); it cannot be resumed")
        # the remediation graph audits the answer (answered-<type>) as it takes it
        step = {"step": f"answer-{response.type}", "by": response.by, "via": response.via}
        with traced_run(self.ctx.settings, f"remediation {record.proposal.id}", attributes=step) as trace:
            # durability="sync": every step on disk before the next
            out = self.remediation_graph.invoke(Command(resume=response),
                                                trace.config({"configurable": {"thread_id": record.thread_id}}),
                                                context=self.ctx, durability="sync")
        return self.outcome_of(record.proposal.id, out)

    def outcome_of(self, proposal_id: str, out: dict[str, Any]) -> RemediationOutcome:
        """What a remediation run ended with (``out``: the graph's final values)."""
        paused = self.pending_request(proposal_id) is not None
        return RemediationOutcome(
            proposal_id=proposal_id, status="pending" if paused else out.get("status", "failed"),
            outcome=out.get("outcome") or ("waiting for approval again" if paused else ""),
            verified=bool(out.get("verified")), steps=list(out.get("steps") or []), result=out.get("result") or {},
            comments=list(out.get("comments") or []))

    # ---- after a crash (graphs.recovery) -------------------------------------------------------
    def resume(self, proposal_id: str, *, by: str, via: str) -> RemediationOutcome:
        """Take over an accepted/executing proposal a dead process left, or retry an interrupted one."""
        from graphs.recovery import resume

        return resume(self, proposal_id, by=by, via=via)

    def abandon(self, proposal_id: str, *, by: str, via: str, reason: str = "") -> str:
        """Give up an interrupted or stranded proposal (rolling back its canary); returns the outcome line."""
        from graphs.recovery import abandon

        return abandon(self, proposal_id, by=by, via=via, reason=reason)

    def recover(self, *, via: str = "serve") -> list[Any]:
        """Resume or mark interrupted every stranded proposal (what `opsagent serve` does on start)."""
        from graphs.recovery import recover

        return recover(self, via=via)

    # ---- chat ----------------------------------------------------------------------------------
    def chat(self, text: str, *, thread_id: str) -> tuple[str, str]:
        """One turn of a chat thread: (answer, which brain answered)."""
        answer, brain = "", ""
        for kind, value in self.stream_chat(text, thread_id=thread_id):
            if kind == "answer":
                answer = value
            elif kind == "brain":
                brain = value
        return answer, brain

    def stream_chat(self, text: str, *, thread_id: str) -> Iterator[tuple[str, str]]:
        """Events of one chat turn: ("token", text) as the LLM streams, ("call", "tool(args)"),
        ("result", "tool: first line"), then ("answer", full text) and ("brain", label)."""
        from langchain_core.messages import HumanMessage

        config: RunnableConfig = {"configurable": {"thread_id": f"chat-{thread_id}"}}
        turn: ChatState = {"messages": [HumanMessage(text)]}
        with traced_run(self.ctx.settings, "chat", inputs={"question": text},
                        attributes={"thread_id": f"chat-{thread_id}", "via": self.ctx.via}) as trace:
            yield from self._chat_events(turn, trace.config(config))
        final = self.chat_graph.get_state(config).values  # type: ignore[arg-type]
        last = final["messages"][-1]
        yield "answer", str(last.content)
        yield "brain", str(final.get("brain", ""))

    def _chat_events(self, turn: ChatState, config: RunnableConfig) -> Iterator[tuple[str, str]]:
        from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

        events = self.chat_graph.stream(turn, config, context=self.ctx, stream_mode=["messages", "updates"])
        for mode, payload in cast("Iterator[tuple[str, Any]]", events):  # (mode, payload) per stream mode
            if mode == "messages":
                chunk, _meta = payload
                if isinstance(chunk, AIMessageChunk) and isinstance(chunk.content, str) and chunk.content:
                    yield "token", chunk.content
            elif mode == "updates":
                for update in payload.values():
                    for m in (update or {}).get("messages", []):
                        if isinstance(m, AIMessage):
                            for tc in m.tool_calls:
                                yield "call", f"{tc['name']}({', '.join(f'{k}={v!r}' for k, v in tc['args'].items())})"
                        elif isinstance(m, ToolMessage):  # from "tools", or the offline router's calls
                            yield "result", f"{m.name}: {str(m.content)[:RESULT_EVENT_CHARS]}"
