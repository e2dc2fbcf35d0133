"""The context a run on LangGraph's server gets: built with no arguments, interface langgraph-api, and — inside
the server's event loop — proposals filed onto server threads (graphs.server)."""

from __future__ import annotations

import asyncio

from agent.proposals import FixDataProposal
from graphs.server import ServerContext, proposal_thread_id, shared_handles


def test_a_server_context_outside_a_server_files_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path))
    ctx = ServerContext()
    assert ctx.via == "langgraph-api" and ctx.settings.home == tmp_path
    assert ctx.file_proposal is None and ctx.start_triage is None  # triage then says "not filed"
    assert ctx.shared is shared_handles(ctx.settings)  # one registry client and memory per home, per process


def test_inside_the_servers_loop_it_files_onto_server_threads(tmp_path, monkeypatch):
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path))

    async def build() -> ServerContext:
        return ServerContext(actor="alice")

    ctx = asyncio.run(build())
    assert ctx.file_proposal is not None and ctx.start_triage is not None and ctx.actor == "alice"


def test_a_proposal_thread_id_is_a_stable_uuid():
    import uuid

    p = FixDataProposal(model="churn", title="t", rationale="r", champion_version="1", expires_at=1e10,
                        brain="offline policy", features=["x"], problem="nulls")
    assert proposal_thread_id(p) == proposal_thread_id(p.model_copy())
    assert uuid.UUID(proposal_thread_id(p)).version == 5
