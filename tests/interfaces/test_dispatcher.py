"""The dispatcher that web, Slack and the scheduler share: background answers through the real graphs, the
approver allowlist (refusals change nothing and are audited), events, bad input, shutdown."""

from __future__ import annotations

import pytest

from agent.proposals import Accept, AnswerError, Edit, Ignore, parse_response
from interfaces.dispatch import Dispatcher, DispatchError, NotApprover
from interfaces.scheduler.run_log import RunRecord


@pytest.fixture
def dispatcher(inbox_world):
    d = Dispatcher(inbox_world.settings(web_approvers=["alice"], slack_approvers=["U0APPROVER"]))
    yield d
    d.shutdown(grace_s=60)


def test_an_approver_accepts_and_remediation_runs_in_the_background(dispatcher, inbox_world):
    events = []
    dispatcher.subscribe(events.append)
    pid = inbox_world.file_fix_data()
    job = dispatcher.answer(pid, Accept(by="alice", via="web"))
    assert job.status in ("running", "done") and job.proposal_id == pid
    assert dispatcher.wait(job.id, timeout=120).status == "done"
    record = dispatcher.ctx.approvals.get(pid)
    assert record.status == "executed" and record.decided_by == "alice" and record.decided_via == "web"
    kinds = [e.kind for e in events]
    assert kinds == ["remediation_started", "remediation"]
    assert events[-1].status == "executed" and "acknowledged" in events[-1].text


def test_a_non_approver_changes_nothing_and_is_audited(dispatcher, inbox_world):
    pid = inbox_world.file_fix_data()
    for who, via in (("mallory", "web"), ("U0SOMEONE", "slack"), ("alice", "slack")):
        with pytest.raises(NotApprover, match="not on the approver list"):
            dispatcher.answer(pid, Accept(by=who, via=via))
        with pytest.raises(NotApprover):
            dispatcher.answer(pid, Ignore(by=who, via=via))
    record = dispatcher.ctx.approvals.get(pid)
    assert record.status == "pending" and record.decided_by is None
    refusals = [e for e in dispatcher.ctx.approvals.history(pid) if e.event == "refused-not-approver"]
    assert {(e.actor, e.via) for e in refusals} == {("mallory", "web"), ("U0SOMEONE", "slack"), ("alice", "slack")}
    assert dispatcher.events()[0].kind == "refused"


def test_reject_executes_nothing(dispatcher, inbox_world):
    pid = inbox_world.file_fix_data()
    job = dispatcher.answer(pid, Ignore(by="U0APPROVER", via="slack"))
    assert dispatcher.wait(job.id, timeout=60).status == "done"
    record = dispatcher.ctx.approvals.get(pid)
    assert record.status == "rejected"
    assert not any(e.event in ("accepted", "executing", "executed") for e in dispatcher.ctx.approvals.history(pid))


def test_bad_answers_are_refused_with_a_message(dispatcher, inbox_world):
    pid = inbox_world.file_fix_data()
    with pytest.raises(DispatchError, match="no proposal"):
        dispatcher.answer("prop-doesnotexist", Accept(by="alice", via="web"))
    with pytest.raises(DispatchError, match="edit needs"):
        dispatcher.answer(pid, Edit(args={}, by="alice", via="web"))
    with pytest.raises(DispatchError, match="cannot edit champion_version of a fix_data proposal; editable: none"):
        dispatcher.answer(pid, Edit(args={"champion_version": "9"}, by="alice", via="web"))
    with pytest.raises(AnswerError, match="a response needs text"):  # where answers enter as JSON (web, CLI)
        parse_response({"type": "response", "args": "  ", "by": "bob", "via": "web"})
    assert dispatcher.ctx.approvals.get(pid).status == "pending"
    with pytest.raises(DispatchError, match="no registered model 'nope'"):
        dispatcher.start_triage("nope", actor="alice", via="web")
    with pytest.raises(DispatchError, match="empty"):
        list(dispatcher.stream_chat("   ", thread_id="t", actor="alice", via="web"))
    with pytest.raises(DispatchError, match="limit is 4000"):
        list(dispatcher.stream_chat("x" * 5000, thread_id="t", actor="alice", via="web"))


def test_chat_answers_offline_and_scheduled_runs_become_events(dispatcher):
    answer, brain = dispatcher.chat("list the models", thread_id="dispatcher-t1", actor="alice", via="web")
    assert "churn" in answer and "offline" in brain
    dispatcher.on_scheduled_run(RunRecord(model="churn", started_at=1.0, finished_at=2.0, status="incident",
                                    via="scheduler", incident_id="inc-1", proposal_id="prop-1",
                                    detail="data drift in total_day_minutes"))
    event = dispatcher.events()[0]
    assert (event.kind, event.incident_id, event.proposal_id) == ("incident", "inc-1", "prop-1")
    assert "total_day_minutes" in event.text


def test_shutdown_refuses_new_jobs(inbox_world):
    d = Dispatcher(inbox_world.settings())
    assert d.shutdown(grace_s=1) == []
    with pytest.raises(DispatchError, match="shutting down"):
        d.start_triage("churn", actor="alice", via="web")
