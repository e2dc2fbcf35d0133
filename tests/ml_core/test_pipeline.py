"""The retrain pipeline on real MLflow: window → train → evaluate → gate → challenger."""

from __future__ import annotations

import time

import pytest

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.data.validation import DataValidationError
from ml_core.gate import GatePolicy
from ml_core.pipeline import RetrainRequest, retrain
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.registry import CHALLENGER
from ml_core.training import TrainConfig
from ml_core.watch import load_reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(champion_home, churn_df):
    layout, registry, job = champion_home
    data = churn_df
    rows = split_frame(data, CHURN_SCHEMA).test.head(300)
    now = time.time()
    features = [k for k in rows.columns if k not in ("churn", "customer_id")]
    with PredictionLog(layout.predictions_db("churn")) as log:
        log.write_predictions([PredictionRow(f"r{i}", r["customer_id"], now, "churn", "1", "champion", None, None, 0.1,
                                             0, 1.0, {k: r[k] for k in features}) for i, r in rows.iterrows()])
        log.write_labels([(r["customer_id"], int(r["churn"] == "yes")) for _, r in rows.iterrows()])
        yield layout, registry, log, job, now


def test_reference_rows_travel_with_the_bundle(world):
    _, registry, _, job, _ = world
    ref = load_reference(registry, "churn", CHURN_SCHEMA)
    assert len(ref.frame) == len(job.split.train)
    assert len(ref.scores) == len(ref.frame)


def test_retrain_registers_a_gated_challenger_with_lineage(world, churn_df):
    _, registry, log, job, now = world
    request = RetrainRequest(model_name="churn", window_since=now - 60, window_until=now + 60,
                             config=TrainConfig(epochs=3, seed=11), policy=GatePolicy(min_gain=-0.05),
                             reason="test")
    steps: list[str] = []
    # The remediation passes the spec's whole table as reference (ml_core.spec.data.retrain_reference).
    result = retrain(registry, log, request, reference=churn_df, schema=CHURN_SCHEMA, on_step=steps.append)
    assert result.rows_window == 300 and result.rows_reference == 5000
    assert result.parent_version == job.version
    assert result.verdict.reasons and any(s.startswith("gate") for s in steps)
    lineage = registry.lineage("churn", result.version)
    assert lineage["parent_version"] == job.version and lineage["training_run_id"] == result.run_id
    info = registry.version("churn", result.version)
    assert info.ready_for_deploy == result.verdict.passed
    challenger = registry.alias("churn", CHALLENGER)
    assert (challenger is not None and challenger.version == result.version) == result.verdict.passed


def test_strict_gate_keeps_a_no_better_model_out(world, churn_df):
    _, registry, log, _, now = world
    request = RetrainRequest(model_name="churn", include_reference=True, config=TrainConfig(epochs=1, seed=3),
                             policy=GatePolicy(min_gain=0.1))
    result = retrain(registry, None, request, reference=churn_df, schema=CHURN_SCHEMA)
    assert not result.verdict.passed and result.alias is None
    assert not registry.version("churn", result.version).ready_for_deploy


def test_retraining_on_the_champions_own_rows_only_is_refused_not_misjudged(world):
    """No reference given and no window: the champion's saved training rows are all there is, and no held-out row
    is unseen by the champion, so no fair gate exists; the message says so (it used to crash in sklearn)."""
    _, registry, _, _, _ = world
    request = RetrainRequest(model_name="churn", config=TrainConfig(epochs=1, seed=3))
    before = len(registry.versions("churn"))
    with pytest.raises(DataValidationError, match="unseen by the champion"):
        retrain(registry, None, request, schema=CHURN_SCHEMA)
    assert len(registry.versions("churn")) == before  # refused before training: nothing registered


def test_empty_window_is_refused_with_a_clear_message(world):
    _, registry, log, _, now = world
    request = RetrainRequest(model_name="churn", window_since=now + 3600, window_until=now + 7200)
    with pytest.raises(DataValidationError, match="labelled production records"):
        retrain(registry, log, request, schema=CHURN_SCHEMA)
