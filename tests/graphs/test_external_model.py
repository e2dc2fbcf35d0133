"""A credit model served by another system, end to end: its predictions (with Income drifted) and labels are
ingested, offline triage finds the drift, and the proposal is an action for the user's own pipeline — approving
it records the hand-over and trains or deploys nothing.

Where the reference comes from: an external model has a version registered in opsagent (trained here, or
adopted from the user's MLflow) whose bundle holds its training rows and scores them — the same reference a
served model has (``ml_core.watch.load_reference``; the spec's data is the fallback when a version saved no rows).
The spec says ``source: external`` and ``trainable: false``: opsagent neither serves nor trains it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from world import make_ctx

from agent.proposals import Accept
from graphs.runner import GraphRunner
from ml_core.data.tables import split_frame
from ml_core.ingest import decision_threshold, ingest_labels, ingest_predictions
from ml_core.jobs import train_and_register
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.registry import CHAMPION, Registry
from ml_core.spec.data import load_spec_data
from ml_core.spec.store import SpecStore
from ml_core.training import TrainConfig
from tests.ingest_support import prediction_records

pytestmark = pytest.mark.slow


def test_triage_of_an_ingested_model_proposes_a_user_action(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    store = SpecStore(layout)
    spec = store.save(store.get("credit").model_copy(update={"source": "external", "trainable": False}))
    data = load_spec_data(spec)
    registry = Registry(layout)
    job = train_and_register(registry, data, TrainConfig(epochs=4, exclude_columns=tuple(spec.exclude_from_training)),
                             model_name="credit", schema=spec.schema, with_baseline=False)
    registry.set_alias("credit", CHAMPION, job.version)

    # What the other serving system saw in the last 25 minutes: incomes up 60% (a currency or unit change).
    traffic = split_frame(data, spec.schema, seed=7).test.head(400).reset_index(drop=True)
    traffic["Income"] = (traffic["Income"] * 1.6).round()
    scores = job.train.model.predict_proba(traffic)
    records = prediction_records(traffic, start=time.time() - 25 * 60, version=job.version)
    for rec, score in zip(records, scores, strict=True):
        rec["score"] = float(score)
    rng = np.random.default_rng(3)
    outcome = [("good" if s == "bad" else "bad") if flip else s  # the drift also cost the model its accuracy
               for s, flip in zip(traffic["Status"], rng.random(len(traffic)) < 0.3, strict=True)]
    with PredictionLog(layout.predictions_db("credit")) as log:
        sent = ingest_predictions(log, spec, records, threshold=decision_threshold(registry, "credit"))
        labelled = ingest_labels(log, spec, [{"credit_id": r["credit_id"], "label": y}
                                             for r, y in zip(records, outcome, strict=True)])
    assert sent.accepted == 400 and labelled.accepted == 400

    ctx = make_ctx(layout)
    with GraphRunner(ctx) as runner:
        out = runner.triage("credit", window_minutes=30)
        d = out.diagnosis
        assert d.detected and d.category == "data_drift" and "Income" in d.culprit, d.summary
        assert d.action == "retrain" and out.proposal_id
        proposal = ctx.approvals.get(out.proposal_id).proposal
        assert proposal.kind == "retrain" and proposal.executor == "user"
        assert "with your training pipeline" in proposal.title and "opsagent trains and deploys nothing" in (
            proposal.rationale)
        assert any("Income" in e.detail for e in proposal.evidence)
        assert proposal.estimated_train_seconds == 0

        done = runner.answer(out.proposal_id, Accept(by="tester", via="test"))
    assert done.status == "executed" and done.result == {"handed_over": True, "executor": "user"}
    assert "handed over to the user" in done.outcome and not done.verified
    assert [v.version for v in registry.versions("credit")] == [job.version]  # nothing was trained
    assert ctx.backend("credit").status().champion is None  # and nothing deployed
    events = [e.event for e in ctx.approvals.history(out.proposal_id)]
    assert "handed_over" in events and ctx.approvals.get(out.proposal_id).status == "executed"
