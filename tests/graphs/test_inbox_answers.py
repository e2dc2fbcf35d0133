"""Answers as Agent Inbox sends them, resumed straight into a remediation thread (as LangGraph's server does:
JSON, a list of one, not validated by our runner): the graph validates, applies and audits them itself."""

from __future__ import annotations

import json
import time

from langgraph.types import Command

from agent.context import OpsContext
from agent.proposals import RetrainProposal
from agent.settings import Settings
from graphs.runner import GraphRunner


def filed(runner: GraphRunner) -> RetrainProposal:
    p = RetrainProposal(model="churn", title="retrain churn", rationale="drift", champion_version="1",
                        expires_at=time.time() + 3600, brain="offline policy", window_since=None,
                        window_until=None, epochs=40)
    runner.file_proposal(p)
    return p


def resume(runner: GraphRunner, p: RetrainProposal, answer: list) -> dict:
    config = {"configurable": {"thread_id": p.id}}
    return runner.remediation_graph.invoke(Command(resume=answer), config, context=runner.ctx)  # type: ignore[call-overload]


def edited_args(p: RetrainProposal, **changes) -> dict:
    """The proposal as Agent Inbox's edit form sends it back: every value a string."""
    args = {**p.model_dump(mode="json"), **changes}
    return {"action": p.kind, "args": {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}}


def test_an_agent_inbox_edit_is_applied_as_the_fields_it_changes(tmp_path):
    ctx = OpsContext(Settings(home=tmp_path), via="langgraph-api", actor="opsagent")
    with GraphRunner(ctx) as runner:
        p = filed(runner)
        out = resume(runner, p, [{"type": "edit", "args": edited_args(p, epochs=12)}])
    # The edit is stored; then precheck refuses (this home has no champion v1): nothing trains in this test.
    assert out["proposal"].epochs == 12 and out["status"] == "refused" and "champion changed" in out["outcome"]
    history = ctx.approvals.history(p.id)
    edits = [e for e in history if e.event == "edited"]
    assert [e.detail["changes"] for e in edits] == [{"epochs": 12}]
    assert {e.via for e in history if e.event in ("answered-edit", "edited", "refused")} == {"langgraph-api"}
    assert ctx.approvals.get(p.id).proposal.epochs == 12


def test_an_agent_inbox_edit_of_a_locked_field_is_refused_and_changes_nothing(tmp_path):
    ctx = OpsContext(Settings(home=tmp_path), via="langgraph-api", actor="opsagent")
    with GraphRunner(ctx) as runner:
        p = filed(runner)
        out = resume(runner, p, [{"type": "edit", "args": edited_args(p, title="something else")}])
    assert out["status"] == "refused" and "cannot edit title" in out["outcome"]
    record = ctx.approvals.get(p.id)
    assert record.status == "refused" and record.proposal.title == "retrain churn"
    assert not [e for e in ctx.approvals.history(p.id) if e.event == "edited"]
