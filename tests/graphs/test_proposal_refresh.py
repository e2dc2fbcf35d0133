"""One pending proposal per incident: a later tick's proposal of the same kind refreshes the pending one (in the
inbox and in its paused thread, keeping a person's edits); one of another kind supersedes it, audited, and
answering the old one says which proposal replaced it."""

from __future__ import annotations

import time

import pytest
from world import make_ctx

from agent.approvals import ApprovalError
from agent.proposals import Accept, FixDataProposal, RetrainProposal, apply_edit
from graphs.runner import GraphRunner
from ml_core.paths import HomeLayout

NOW = time.time()


def retrain(since: float, incident: str = "inc-1") -> RetrainProposal:
    return RetrainProposal(model="churn", title="Retrain churn", rationale="drift", champion_version="1",
                           expires_at=NOW + 3600, brain="offline policy", incident_id=incident,
                           window_since=since, window_until=since + 60)


@pytest.fixture
def runner(tmp_path):
    with GraphRunner(make_ctx(HomeLayout(tmp_path / "home").ensure())) as r:
        yield r


def test_a_same_kind_proposal_refreshes_the_pending_one_and_keeps_a_persons_edit(runner):
    first = retrain(100.0)
    runner.file_proposal(first)
    edited = apply_edit(first, {"epochs": 7})
    runner.ctx.approvals.update_proposal(first.id, edited, actor="alice", via="cli", changes={"epochs": 7})

    message = runner.file_proposal(retrain(200.0))
    assert message.startswith(f"proposal {first.id} refreshed (") and "window_since" in message
    [pending] = runner.ctx.approvals.pending("churn")
    assert pending.id == first.id and pending.proposal.window_since == 200.0 and pending.proposal.epochs == 7
    assert pending.proposal.expires_at == first.expires_at  # a refresh does not restart the approval's clock
    entry = runner.ctx.approvals.history(first.id)[-1]
    assert entry.event == "refreshed" and entry.detail["changes"]["window_since"] == 200.0
    # the paused thread asks about the refreshed proposal, and an approval stays an accept (not an edit)
    request = runner.pending_request(first.id)
    assert request is not None and request["action_request"]["args"]["window_since"] == 200.0
    assert runner.ctx.approvals.set_status(first.id, "rejected", actor="bob", via="cli").decision == "ignore"


def test_another_kind_supersedes_the_pending_one_and_answering_it_names_the_successor(runner):
    first = retrain(100.0)
    runner.file_proposal(first)
    fix = FixDataProposal(model="churn", title="Fix the feed", rationale="nulls", champion_version="1",
                          expires_at=NOW + 3600, brain="offline policy", incident_id="inc-1",
                          features=["total_day_minutes"], problem="null")
    other_incident = retrain(100.0, incident="inc-2")
    runner.file_proposal(other_incident)
    assert runner.file_proposal(fix).endswith(f"; {first.id} superseded")
    assert {r.id for r in runner.ctx.approvals.pending("churn")} == {fix.id, other_incident.id}
    old = runner.ctx.approvals.get(first.id)
    assert old.status == "superseded" and old.outcome.startswith(f"superseded by {fix.id}")
    entry = runner.ctx.approvals.history(first.id)[-1]
    assert (entry.event, entry.detail["by"], entry.detail["from"]) == ("superseded", fix.id, "pending")
    with pytest.raises(ApprovalError, match=f"is superseded by {fix.id}"):
        runner.answer(first.id, Accept(by="alice", via="cli"))
    with pytest.raises(ApprovalError, match="is already superseded; only a pending proposal"):
        runner.ctx.approvals.set_status(first.id, "accepted", actor="alice", via="cli")


@pytest.mark.parametrize("ended, proposes_again", [("rejected", False), ("expired", True), ("refused", True)])
def test_an_ongoing_incident_proposes_again_only_if_its_last_proposal_was_not_decided(runner, ended, proposes_again):
    from graphs.incident_record import repropose_refusal

    first = retrain(100.0)
    runner.file_proposal(first)
    ongoing = {"id": "inc-1", "proposal_id": first.id}
    assert repropose_refusal(runner.ctx, ongoing) is None  # pending: this tick refreshes it
    runner.ctx.approvals.set_status(first.id, ended, actor="bob", via="cli")  # type: ignore[arg-type]
    why = repropose_refusal(runner.ctx, ongoing)
    assert (why is None) == proposes_again
    if why is not None:
        assert why.startswith(f"not proposing again: proposal {first.id} is rejected")
