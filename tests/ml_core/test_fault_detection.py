"""Every fault type is detected by monitoring; the no-fault control stays quiet.

One real deployment (LocalBackend: a service subprocess on loopback, MLflow on SQLite in tmp_path)
serves all scenarios; each is checked over its own time window of the prediction log.
"""

from __future__ import annotations

import time

import pytest

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.deploy.local import LocalBackend
from ml_core.predlog import PredictionLog
from ml_core.serving.server import free_port
from ml_core.simulator.release import ship_faulty_release
from ml_core.simulator.scenario import load_scenario
from ml_core.simulator.traffic import deliver_labels, run_traffic
from ml_core.watch import check_window, load_reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(champion_home, churn_df):
    layout, registry, job = champion_home
    backend = LocalBackend(layout, "churn", registry, free_port(), latency_budget_ms=150)
    backend.start(job.version)
    pool = split_frame(churn_df, CHURN_SCHEMA).test  # unseen in training; the reference is the training split
    reference = load_reference(registry, "churn", CHURN_SCHEMA)
    yield layout, registry, backend, pool, reference
    backend.stop()


def run_and_check(world, name: str, **overrides):
    layout, registry, backend, pool, reference = world
    scenario = load_scenario(name).model_copy(update=overrides)
    ship_faulty_release(scenario, registry, backend, "churn")
    status = backend.status()
    start = time.time()
    result = run_traffic(status.url, scenario, pool, schema=CHURN_SCHEMA)
    with PredictionLog(layout.predictions_db("churn")) as log:
        deliver_labels(log, result)
    checked = check_window(layout, registry, "churn", schema=CHURN_SCHEMA, since=start, until=time.time() + 1,
                           reference=reference, write_report=False)
    if scenario.release_fault is not None:
        backend.rollback()
    return result, checked.result


def kinds(result) -> set[str]:
    return {f.kind for f in result.findings}


def test_no_fault_control_stays_quiet(world):
    traffic, result = run_and_check(world, "no_fault")
    assert traffic.ok == traffic.sent
    assert result.findings == [], result.summary


def test_covariate_drift_is_detected_and_named(world):
    _, result = run_and_check(world, "covariate_drift")
    assert "feature_drift" in kinds(result)
    assert "total_day_minutes" in result.drifted_features


def test_concept_drift_shows_as_a_performance_drop(world):
    _, result = run_and_check(world, "concept_drift")
    assert "performance_drop" in kinds(result)
    assert "feature_drift" not in kinds(result)


def test_label_shift_is_detected(world):
    _, result = run_and_check(world, "label_shift")
    assert kinds(result) & {"prior_shift", "prediction_drift"}


def test_null_storm_shows_as_rejections(world):
    traffic, result = run_and_check(world, "null_storm")
    # Half the records lose a field; their batches still answer for the other half (per-record scoring).
    assert traffic.rejected_records > 0 and traffic.records > 0
    assert traffic.rejected_records + traffic.records == traffic.sent * 10
    assert "rejection_spike" in kinds(result)


def test_schema_break_shows_as_rejections(world):
    traffic, result = run_and_check(world, "schema_break")
    assert traffic.rejected == traffic.sent
    assert "rejection_spike" in kinds(result)


def test_slow_release_breaks_the_latency_slo(world):
    traffic, result = run_and_check(world, "slow_release", requests=30)
    assert traffic.fallbacks > 0, "answers past the latency budget come from the fallback"
    assert kinds(result) & {"latency_slo", "error_rate_slo"}


def test_broken_release_breaks_the_error_slo(world):
    traffic, result = run_and_check(world, "broken_release", requests=30)
    assert traffic.failed == 0, "callers still get answers from the fallback"
    assert traffic.fallbacks > 0
    assert "error_rate_slo" in kinds(result)
