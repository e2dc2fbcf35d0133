"""The graphs as LangGraph's own server runs them (``langgraph dev``, LangGraph Platform; see langgraph.json).

The graphs are the ones our runner compiles; only their context differs. The server builds a run's context
from the run (``ServerContext(**context)``, the context filtered to ``actor``), so every field has a default:
settings from the environment (``OPSAGENT_HOME``), the interface ``langgraph-api``.

Where a proposal's thread lives: triage files its proposal into the approvals inbox (``graphs.filing``) and
starts the proposal's remediation thread *on this server*, through the server's own API (``langgraph_sdk``'s
in-process client), so Agent Inbox and Studio see it paused on ``interrupt([HumanInterrupt])`` under graph
``remediation``, and answers sent to it (``runs.create(..., command={"resume": [...]})``) act. We chose this
over pausing triage itself: a triage pausing for a person would hold its post-mortem and incident record
back until someone answered, and the runner's shape (one remediation thread per proposal) stays the same.
Server threads need UUIDs: a proposal's thread id is a UUID derived from its id (recorded in the inbox).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from agent.context import OpsContext, SharedHandles, store_key
from agent.proposals import Proposal
from agent.settings import Settings
from graphs.chat import build_chat
from graphs.filing import file_proposal
from graphs.remediation import build_remediation
from graphs.triage import build_triage

VIA = "langgraph-api"
_THREADS = uuid.UUID("6f0a2c1e-8d4b-4e7a-9c3f-0b1d2e3f4a5b")  # namespace of proposal thread ids
_API_TIMEOUT_S = 30.0  # one in-process API call (create a thread or a run): milliseconds when the server is well

_shared_lock = threading.Lock()
_shared: dict[tuple[object, ...], SharedHandles] = {}


def shared_handles(settings: Settings) -> SharedHandles:
    """One registry client and one memory per home for the server process, as `opsagent serve` keeps one: a
    context per run would otherwise load the embedding model again on every triage."""
    key = store_key(settings)
    with _shared_lock:
        return _shared.setdefault(key, SharedHandles(settings))


def proposal_thread_id(proposal: Proposal) -> str:
    return str(uuid.uuid5(_THREADS, proposal.id))


class ServerThreads:
    """``graphs.filing.ProposalThreads`` on the server running this graph: remediation threads and triage runs
    created through its API. Nodes run on worker threads; the API client runs on the server's event loop."""

    def __init__(self, ctx: OpsContext, loop: asyncio.AbstractEventLoop):
        self.ctx = ctx
        self.loop = loop

    def _call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if _running_on(self.loop):  # never block the loop on itself
            coro.close()
            raise RuntimeError("ServerThreads is called from graph nodes, which run on worker threads")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=_API_TIMEOUT_S)

    def thread_id(self, proposal: Proposal) -> str:
        return proposal_thread_id(proposal)

    def start(self, thread_id: str, proposal: Proposal) -> None:
        self._call(self._start(thread_id, proposal))

    def refresh(self, thread_id: str, proposal: Proposal) -> None:
        self._call(self._refresh(thread_id, proposal))

    def triage(self, model: str) -> str:
        """Start a triage of ``model`` on its own server thread (chat's start_triage) and say where it runs."""
        thread = self._call(self._triage(model))
        return (f"triage of {model} started on LangGraph thread {thread} (graph triage); a proposal it files "
                "waits in the inbox and in a thread of graph remediation")

    async def _start(self, thread_id: str, proposal: Proposal) -> None:
        from langgraph_sdk import get_client

        client = get_client()
        await client.threads.create(thread_id=thread_id, if_exists="do_nothing", graph_id="remediation",
                                    metadata={"proposal_id": proposal.id, "model": proposal.model})
        await client.runs.create(thread_id, "remediation", context={"actor": self.ctx.actor},
                                 input={"proposal": proposal.model_dump(mode="json"), "source": VIA})

    async def _refresh(self, thread_id: str, proposal: Proposal) -> None:
        from langgraph_sdk import get_client

        client = get_client()
        await client.threads.update_state(thread_id, {"proposal": proposal.model_dump(mode="json")},
                                          as_node="revise")
        await client.runs.create(thread_id, "remediation", input=None, context={"actor": self.ctx.actor})

    async def _triage(self, model: str) -> str:
        from langgraph_sdk import get_client

        client = get_client()
        thread = await client.threads.create(graph_id="triage", metadata={"model": model})
        await client.runs.create(thread["thread_id"], "triage", input={"model": model},
                                 context={"actor": self.ctx.actor})
        return str(thread["thread_id"])


def _running_on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


@dataclass
class ServerContext(OpsContext):
    """The context of a run on LangGraph's server: built by the server, inside its event loop."""

    via: str = VIA

    def __post_init__(self) -> None:
        if self.shared is None:
            self.shared = shared_handles(self.settings)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # built outside a server run (a test, a script): no server API to reach
            return
        threads = ServerThreads(self, loop)
        if self.file_proposal is None:
            self.file_proposal = lambda proposal: file_proposal(self, proposal, threads)
        if self.start_triage is None:
            self.start_triage = threads.triage


# What langgraph.json names: our graphs, with the server's context. The server adds its own checkpointer.
triage = build_triage(ServerContext).compile()
remediation = build_remediation(ServerContext).compile()
chat = build_chat(ServerContext).compile()
