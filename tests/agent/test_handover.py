"""Proposals for models opsagent does not serve or train: drafted as the user's actions, executed as hand-overs."""

from __future__ import annotations

import time

import pytest

from agent.context import OpsContext
from agent.drafting import DraftError, draft_promote, draft_retrain, draft_rollback
from agent.handover import executor_for
from agent.proposals import RollbackProposal, inbox_request, proposal_from_dict
from agent.settings import Settings
from graphs.execute import execute
from ml_core.data.credit import load_credit
from ml_core.ingest import ingest_predictions
from ml_core.paths import HomeLayout
from ml_core.spec.store import SpecStore
from tests.ingest_support import prediction_records


@pytest.fixture
def ctx(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    store = SpecStore(layout)
    store.save(store.get("credit").model_copy(update={"source": "external", "trainable": False}))
    store.save(store.get("credit").model_copy(update={"name": "scored", "source": "adopted", "trainable": False}))
    context = OpsContext(Settings(home=layout.home), via="test", actor="tester")
    yield context
    context.close()


def test_who_carries_out_what(ctx):
    assert {k: executor_for(ctx, "credit", k) for k in ("retrain", "rollback", "promote", "fix_data")} == {
        "retrain": "user", "rollback": "user", "promote": "user", "fix_data": "opsagent"}
    # adopted: opsagent serves it (rollback is its own) but the user's pipeline trains it
    assert (executor_for(ctx, "scored", "retrain"), executor_for(ctx, "scored", "rollback")) == ("user", "opsagent")
    assert executor_for(ctx, "churn", "retrain") == "opsagent"  # the demo, trained and served by opsagent
    assert executor_for(ctx, "no-spec-here", "rollback") == "opsagent"


def test_a_rollback_for_an_external_model_names_its_versions_from_the_log(ctx):
    rows = load_credit().head(60)
    now = time.time()
    with ctx.prediction_log("credit") as log:
        ingest_predictions(log, ctx.spec("credit"), prediction_records(rows.head(30), start=now - 3000, version="7"))
        ingest_predictions(log, ctx.spec("credit"), prediction_records(rows.tail(30), start=now - 600, version="v8"))
    p = draft_rollback(ctx, "credit", reason="v8 answers worse than v7.", brain="offline policy", culprit=["8"],
                       window=(now - 1800, now))
    assert (p.executor, p.bad_version, p.target_version) == ("user", "8", "7")
    assert p.title == "Roll back credit to v7 in your serving system: take v8 out of traffic"
    assert "opsagent does not serve credit" in p.rationale and "deploys nothing" in p.rationale
    with pytest.raises(DraftError, match="promote a version in your own serving system"):
        draft_promote(ctx, "credit", reason="x", brain="offline policy")


def test_a_retrain_for_a_model_opsagent_does_not_train(ctx):
    until = time.time()
    p = draft_retrain(ctx, "credit", reason="Income drifted and realised F1 fell.", window_since=until - 3600,
                      window_until=until, evidence=[], brain="offline policy")
    assert p.executor == "user" and p.title.startswith("Retrain credit with your training pipeline on ")
    assert "Income drifted" in p.rationale and "opsagent trains and deploys nothing" in p.rationale
    assert p.estimated_train_seconds == 0 and p.estimated_cost_usd == 0
    assert inbox_request(p)["action_request"]["args"]["executor"] == "user"


def test_executing_a_user_action_records_the_hand_over_and_runs_nothing(ctx):
    p = RollbackProposal(model="credit", title="Roll back credit to v7 in your serving system", rationale="r",
                         champion_version=None, expires_at=time.time() + 60, brain="offline policy",
                         bad_version="8", target_version="7", executor="user")
    ctx.approvals.add(p, thread_id="t-1", source="test", actor="tester")
    run = execute(ctx, p)
    assert run.ok and not run.fixed and run.result == {"handed_over": True, "executor": "user"}
    assert run.outcome.startswith("handed over to the user: Roll back credit to v7")
    assert "no deployment, no training" in run.outcome
    assert [e.event for e in ctx.approvals.history(p.id)][-1] == "handed_over"
    assert ctx.backend("credit").status().champion is None  # no deployment call was made


def test_proposals_stored_before_the_executor_field_still_read():
    old = {"kind": "rollback", "id": "prop-old", "model": "churn", "title": "t", "rationale": "r",
           "champion_version": "1", "expires_at": 1.0, "brain": "offline policy", "bad_version": "2",
           "target_version": "1"}
    assert proposal_from_dict(old).executor == "opsagent"
    assert proposal_from_dict({**old, "executor": "user"}).executor == "user"
