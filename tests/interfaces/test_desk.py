"""The desk that web, Slack and the scheduler share: background answers through the real graphs, the
approver allowlist (refusals change nothing and are audited), events, bad input, shutdown."""

from __future__ import annotations

import pytest

from agent.desk import Desk, DeskError, NotApprover
from agent.proposals import HumanResponse
from agent.schedule_log import RunRecord


@pytest.fixture
def desk(inbox_world):
    d = Desk(inbox_world.settings(web_approvers=["alice"], slack_approvers=["U0APPROVER"]))
    yield d
    d.shutdown(grace_s=60)


def test_an_approver_accepts_and_remediation_runs_in_the_background(desk, inbox_world):
    events = []
    desk.subscribe(events.append)
    pid = inbox_world.file_fix_data()
    job = desk.answer(pid, HumanResponse(type="accept", by="alice", via="web"))
    assert job.status in ("running", "done") and job.proposal_id == pid
    assert desk.wait(job.id, timeout=120).status == "done"
    record = desk.ctx.approvals.get(pid)
    assert record.status == "executed" and record.decided_by == "alice" and record.decided_via == "web"
    kinds = [e.kind for e in events]
    assert kinds == ["remediation_started", "remediation"]
    assert events[-1].status == "executed" and "acknowledged" in events[-1].text


def test_a_non_approver_changes_nothing_and_is_audited(desk, inbox_world):
    pid = inbox_world.file_fix_data()
    for who, via in (("mallory", "web"), ("U0SOMEONE", "slack"), ("alice", "slack")):
        with pytest.raises(NotApprover, match="not on the approver list"):
            desk.answer(pid, HumanResponse(type="accept", by=who, via=via))
        with pytest.raises(NotApprover):
            desk.answer(pid, HumanResponse(type="ignore", by=who, via=via))
    record = desk.ctx.approvals.get(pid)
    assert record.status == "pending" and record.decided_by is None
    refusals = [e for e in desk.ctx.approvals.history(pid) if e.event == "refused-not-approver"]
    assert {(e.actor, e.via) for e in refusals} == {("mallory", "web"), ("U0SOMEONE", "slack"), ("alice", "slack")}
    assert desk.events()[0].kind == "refused"


def test_reject_executes_nothing(desk, inbox_world):
    pid = inbox_world.file_fix_data()
    job = desk.answer(pid, HumanResponse(type="ignore", by="U0APPROVER", via="slack"))
    assert desk.wait(job.id, timeout=60).status == "done"
    record = desk.ctx.approvals.get(pid)
    assert record.status == "rejected"
    assert not any(e.event in ("accepted", "executing", "executed") for e in desk.ctx.approvals.history(pid))


def test_bad_answers_are_refused_with_a_message(desk, inbox_world):
    pid = inbox_world.file_fix_data()
    with pytest.raises(DeskError, match="no proposal"):
        desk.answer("prop-doesnotexist", HumanResponse(type="accept", by="alice", via="web"))
    with pytest.raises(DeskError, match="edit needs"):
        desk.answer(pid, HumanResponse(type="edit", args={}, by="alice", via="web"))
    with pytest.raises(DeskError, match="not editable|cannot|editable"):
        desk.answer(pid, HumanResponse(type="edit", args={"champion_version": "9"}, by="alice", via="web"))
    with pytest.raises(DeskError, match="needs text"):
        desk.answer(pid, HumanResponse(type="response", args="  ", by="bob", via="web"))
    assert desk.ctx.approvals.get(pid).status == "pending"
    with pytest.raises(DeskError, match="no registered model 'nope'"):
        desk.start_triage("nope", actor="alice", via="web")
    with pytest.raises(DeskError, match="empty"):
        list(desk.stream_chat("   ", thread_id="t", actor="alice", via="web"))
    with pytest.raises(DeskError, match="limit is 4000"):
        list(desk.stream_chat("x" * 5000, thread_id="t", actor="alice", via="web"))


def test_chat_answers_offline_and_scheduled_runs_become_events(desk):
    answer, brain = desk.chat("list the models", thread_id="desk-t1", actor="alice", via="web")
    assert "churn" in answer and "offline" in brain
    desk.on_scheduled_run(RunRecord(model="churn", started_at=1.0, finished_at=2.0, status="incident",
                                    via="scheduler", incident_id="inc-1", proposal_id="prop-1",
                                    detail="data drift in total_day_minutes"))
    event = desk.events()[0]
    assert (event.kind, event.incident_id, event.proposal_id) == ("incident", "inc-1", "prop-1")
    assert "total_day_minutes" in event.text


def test_shutdown_refuses_new_jobs(inbox_world):
    d = Desk(inbox_world.settings())
    assert d.shutdown(grace_s=1) == []
    with pytest.raises(DeskError, match="shutting down"):
        d.start_triage("churn", actor="alice", via="web")
