"""Performance estimates, prior shift, SLOs, data quality and the one-call check on churn windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.monitoring.check import MonitoringThresholds, run_check
from ml_core.monitoring.performance import cbpe_estimate, estimate_metrics, prior_shift, realised_performance
from ml_core.monitoring.slo import data_quality, slo_report
from ml_core.predlog import PredictionLog, PredictionRow

FEATURES = CHURN_SCHEMA.feature_names


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    return load_churn()


def _scores(df: pd.DataFrame) -> np.ndarray:
    """A stand-in model: calibrated by construction for labels drawn from it."""
    z = (0.02 * (df["total_day_minutes"] - 180) + 0.8 * (df["number_customer_service_calls"] > 3)
         + 1.5 * (df["international_plan"] == "yes") - 2.0)
    return (1 / (1 + np.exp(-z))).to_numpy()


def _window(df: pd.DataFrame, rng: np.random.Generator, latency_scale: float = 20.0) -> pd.DataFrame:
    w = df[FEATURES].reset_index(drop=True).copy()
    w["score"] = _scores(w)
    w["label"] = (w["score"] >= 0.5).astype(int)
    w["version"], w["role"], w["fallback_reason"] = "3", "champion", None
    w["latency_ms"] = rng.gamma(2.0, latency_scale, len(w))
    return w


def _halves(churn: pd.DataFrame, n: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    idx = np.random.default_rng(seed).permutation(len(churn))
    return churn.iloc[idx[:2500]], churn.iloc[idx[2500:2500 + n]]


@pytest.mark.parametrize(("n", "seed"), [(500, 0), (500, 1), (1000, 2), (1000, 3), (2000, 4), (2000, 5)])
def test_no_fault_window_is_quiet(churn: pd.DataFrame, n: int, seed: int) -> None:
    ref, cur = _halves(churn, n, seed)
    result = run_check(ref, _scores(ref), _window(cur, np.random.default_rng(seed)), rejections=0)
    assert result.findings == [], result.summary
    assert result.status == "ok"


def test_single_feature_drift_is_found_and_named(churn: pd.DataFrame) -> None:
    ref, cur = _halves(churn, 1000, 7)
    cur = cur.copy()
    cur["total_day_minutes"] *= 1.3
    result = run_check(ref, _scores(ref), _window(cur, np.random.default_rng(0)))
    assert "total_day_minutes" in result.drifted_features
    assert result.drifted_features == ["total_day_minutes"]
    assert "total_day_minutes" in result.summary
    assert result.status == "warning"


def test_cbpe_estimate_tracks_realised_metrics_when_calibrated() -> None:
    rng = np.random.default_rng(0)
    p = rng.beta(1.2, 4.0, 20_000)
    y = rng.random(len(p)) < p
    est = estimate_metrics(p, 0.4)
    real = realised_performance(pd.DataFrame({"score": p, "actual": y.astype(int)}), {"f1": 0.5}, 0.4)
    for m in ("f1", "precision", "recall", "auc"):
        assert est[m] == pytest.approx(real.metrics[m], abs=0.02), m


def test_cbpe_flags_a_less_confident_window() -> None:
    rng = np.random.default_rng(1)
    ref = rng.beta(0.6, 2.0, 5000)  # confident scores
    cur = rng.beta(4.0, 8.0, 1000)  # scores bunched near 0.3: lower expected F1 and AUC
    est = cbpe_estimate(cur, ref, 0.5)
    assert est.dropped and est.drop > 0.08
    assert not cbpe_estimate(rng.beta(0.6, 2.0, 1000), ref, 0.5).dropped


def test_realised_drop_and_label_shift() -> None:
    rng = np.random.default_rng(2)
    p = rng.beta(1.0, 3.0, 4000)
    y = (rng.random(len(p)) < p).astype(int)
    reference = realised_performance(pd.DataFrame({"score": p[2000:], "actual": y[2000:]}), {}, 0.5).metrics
    good = realised_performance(pd.DataFrame({"score": p[:2000], "actual": y[:2000]}), reference, 0.5)
    flipped = realised_performance(pd.DataFrame({"score": p[:2000], "actual": 1 - y[:2000]}), reference, 0.5)
    assert not good.dropped and flipped.dropped and flipped.label_coverage == 1.0

    ref_scores = rng.beta(1.0, 5.0, 3000)
    assert not prior_shift(rng.beta(1.0, 5.0, 800), ref_scores, 0.5).shifted
    assert prior_shift(rng.beta(2.0, 3.0, 800), ref_scores, 0.5).shifted
    actual = prior_shift(rng.beta(1.0, 5.0, 800), ref_scores, 0.5, current_actual=rng.random(800) < 0.35,
                         reference_actual=rng.random(3000) < 0.15)
    assert actual.shifted and actual.actual_positive_rate == pytest.approx(0.35, abs=0.05)


def test_latency_and_error_slos_per_version() -> None:
    rng = np.random.default_rng(3)
    fast = pd.DataFrame({"version": "3", "role": "champion", "fallback_reason": None,
                         "intended_version": None, "latency_ms": rng.gamma(2.0, 20.0, 400)})
    slow = pd.DataFrame({"version": "4", "role": "canary", "fallback_reason": None,
                         "intended_version": None, "latency_ms": rng.gamma(2.0, 20.0, 100) + 400})
    fell_back = pd.DataFrame({"version": "3", "role": "fallback", "fallback_reason": "timeout",
                              "intended_version": "4", "latency_ms": [50.0] * 10})
    report = slo_report(pd.concat([fast, slow, fell_back], ignore_index=True), p95_latency_ms=250,
                        max_error_rate=0.02)
    by = {v.version: v for v in report.versions}
    assert by["4"].latency_breached and by["4"].errors == 10 and by["4"].error_rate_breached
    assert not by["3"].latency_breached and not by["3"].error_rate_breached
    assert by["3"].p50_ms < by["3"].p95_ms < by["3"].p99_ms


def test_rejection_spike_and_nulls(churn: pd.DataFrame) -> None:
    ref, cur = _halves(churn, 500, 4)
    window = _window(cur, np.random.default_rng(4))
    rejections = pd.DataFrame({"rows": [1] * 60})
    result = run_check(ref, _scores(ref), window, rejections=rejections)
    assert [f.kind for f in result.findings] == ["rejection_spike"] and result.status == "critical"
    window.loc[window.index[:100], "total_eve_calls"] = np.nan
    q = data_quality(window, 0, FEATURES)
    assert q.null_breached and q.null_share["total_eve_calls"] == pytest.approx(0.2)


def test_run_check_on_a_prediction_log(churn: pd.DataFrame, tmp_path) -> None:
    ref, cur = _halves(churn, 600, 6)
    log = PredictionLog(tmp_path / "churn.db")
    rng = np.random.default_rng(6)
    scores = _scores(cur)
    rows = [PredictionRow(f"r{i}", rec["customer_id"], 1000.0 + i, "churn", "3", "champion", None, None,
                          float(s), int(s >= 0.5), float(rng.gamma(2.0, 200.0)), {k: rec[k] for k in FEATURES})
            for i, (rec, s) in enumerate(zip(cur.to_dict("records"), scores, strict=True))]
    log.write_predictions(rows)
    log.write_labels((r.record_id, int(rng.random() < r.score)) for r in rows[:300])
    window = log.predictions(since=1000.0)
    result = run_check(ref, _scores(ref), window, labelled=log.labelled(), rejections=log.rejections(),
                       reference_metrics={"f1": 0.5, "auc": 0.8},
                       thresholds=MonitoringThresholds(p95_latency_ms=300))
    log.close()
    assert [f.kind for f in result.findings] == ["latency_slo"]
    assert result.realised is not None and result.realised.n_labelled == 300
    assert result.realised.label_coverage == pytest.approx(0.5)


def test_a_drift_statistic_is_written_with_its_three_digits_trailing_zeros_kept() -> None:
    from ml_core.monitoring.check import statistic_text

    # "0.3" would pass for anything from 0.25 to 0.35: the benchmark's categorical drift wrote 0.2996 so.
    assert [statistic_text(x) for x in (0.2996, 0.789, 12.0, 0.1)] == ["0.300", "0.789", "12.0", "0.100"]


def test_a_categorical_drift_finding_states_its_statistic_to_three_digits(churn: pd.DataFrame) -> None:
    from evals.postmortem_markdown import _written_numbers, figure_written

    ref, cur = _halves(churn, 1000, 9)
    cur = cur.copy()
    rng = np.random.default_rng(9)
    cur["international_plan"] = np.where(rng.random(len(cur)) < 0.4, "yes", "no")  # the roaming promotion
    result = run_check(ref, _scores(ref), _window(cur, np.random.default_rng(1)))
    [finding] = [f for f in result.findings if f.kind == "feature_drift" and f.subject == "international_plan"]
    stat = finding.evidence["statistic"]
    assert f"jensenshannon {stat:#.3g} " in finding.message
    assert figure_written(stat, _written_numbers(finding.message)), finding.message
