"""The health history on a deterministic prediction log: exact values in each bucket, per version."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml_core.monitoring.drift_screen import build_profile
from ml_core.monitoring.history import HistoryError, health_history, resolve_window
from ml_core.monitoring.history_series import DRIFT_SAMPLE_ROWS, drift_score, top_features
from ml_core.monitoring.performance import expected_auc
from ml_core.predlog import PredictionLog, PredictionRow

SINCE = 1_800_000_000.0
BUCKET = 600.0
UNTIL = SINCE + 4 * BUCKET


def _row(i: int, ts: float, version: str, role: str, score: float, latency: float, x: float, *,
         intended: str | None = None) -> PredictionRow:
    return PredictionRow(request_id=f"q{i}", record_id=f"r{i}", ts=ts, model="m", version=version, role=role,
                         fallback_reason="error: boom" if role == "fallback" else None, intended_version=intended,
                         score=score, label=int(score >= 0.5), latency_ms=latency, features={"x": x, "y": 0.0})


def _world(path) -> PredictionLog:
    """Bucket 0: v1, 40 rows (latency 1..40 ms, half scored 0.8, half 0.2, all labelled, x ~ N(0, 1)).
    Bucket 1: v1 40 rows like bucket 0 but x ~ N(3, 1); v2 as canary 18 rows, plus 2 answered by v1's fallback.
    Bucket 2: nothing. Bucket 3: v1, 10 rows. One v1 row before the window: v1 was already live."""
    rng = np.random.default_rng(7)
    rows, labels, i = [_row(0, SINCE - 10, "1", "champion", 0.8, 5.0, 0.0)], [], 1
    for bucket, shift in ((0, 0.0), (1, 3.0)):
        for k in range(40):
            score = 0.8 if k < 20 else 0.2
            rows.append(_row(i, SINCE + bucket * BUCKET + k, "1", "champion", score, float(k + 1),
                             float(rng.normal(shift, 1.0))))
            # 15 of the 0.8s are positives, 5 of the 0.2s: TP 15, FP 5, FN 5
            labels.append((f"r{i}", int(k < 15 or 20 <= k < 25)))
            i += 1
    for k in range(20):
        fallback = k >= 18
        rows.append(_row(i, SINCE + BUCKET + 100 + k, "1" if fallback else "2", "fallback" if fallback else "canary",
                         0.6, 50.0, 0.0, intended="2" if fallback else None))
        i += 1
    for k in range(10):
        rows.append(_row(i, SINCE + 3 * BUCKET + k, "1", "champion", 0.2, 3.0, 0.0))
        i += 1
    log = PredictionLog(path)
    log.write_predictions(rows)
    log.write_labels(labels)
    log.seal(min_rows=1)  # all but the newest row into a Parquet segment: both read paths are exercised
    return log


@pytest.fixture
def history(tmp_path):
    reference = pd.DataFrame({"x": np.random.default_rng(1).normal(0, 1, 2000),
                              "y": np.random.default_rng(2).normal(0, 1, 2000)})
    with _world(tmp_path / "m.db") as log:
        return health_history(log, "m", since=SINCE, until=UNTIL, buckets=4,
                              profile=build_profile(reference, kinds={"x": "numerical", "y": "numerical"}),
                              reference_f1=0.7, p95_latency_ms=250.0, max_error_rate=0.01), reference


def test_buckets_and_versions(history):
    h, _ = history
    assert h.starts == [SINCE, SINCE + BUCKET, SINCE + 2 * BUCKET, SINCE + 3 * BUCKET]
    assert h.versions == ["1", "2"]
    assert (h.rows, h.labelled) == (110, 80)


def test_traffic_latency_and_errors_per_version(history):
    h, _ = history
    traffic = {s.name: s.values for s in h.panel("traffic").series}
    # per minute: 40 rows / 10 min; nothing for v2 before it first served, 0 once it had
    assert traffic == {"v1": [4.0, 4.0, 0.0, 1.0], "v2": [None, 2.0, 0.0, 0.0]}
    latency = {s.name: s.values for s in h.panel("latency").series}
    assert latency["v1"] == [pytest.approx(np.percentile(np.arange(1, 41), 95)),
                             pytest.approx(np.percentile(np.arange(1, 41), 95)), None, None]  # 10 rows: no p95
    assert latency["v2"] == [None, 50.0, None, None]
    errors = {s.name: s.values for s in h.panel("errors").series}
    assert errors == {"v1": [0.0, 0.0, None, None], "v2": [None, pytest.approx(0.1), None, None]}  # 2 of 20


def test_realised_and_estimated_performance(history):
    h, _ = history
    realised = {s.name: s.values for s in h.panel("realised").series}
    # TP 15, FP 5, FN 5: F1 = 30 / 40; AUC: 225 wins and 150 ties of 400 pairs = 0.75
    assert realised == {"v1 F1": [0.75, 0.75, None, None], "v1 AUC": [0.75, 0.75, None, None]}
    estimated = {s.name: s.values for s in h.panel("estimated").series}
    # CBPE: 20 rows at 0.8 decided positive: TP 16, FP 4; 20 at 0.2 decided negative: FN 4 -> F1 32 / 40
    # bucket 1 also holds the two requests v1 answered as v2's fallback (scored 0.6, decided positive): TP 17.2,
    # FP 4.8, FN 4 -> F1 34.4 / 43.2
    assert estimated["v1 F1"][:2] == [pytest.approx(0.8), pytest.approx(34.4 / 43.2)]
    assert estimated["v1 AUC"][0] == pytest.approx(0.8)  # weights: 16 and 4 positive, 4 and 16 negative
    assert estimated["v1 AUC"][1] == pytest.approx(expected_auc(np.r_[np.full(20, 0.8), np.full(20, 0.2), 0.6, 0.6]))
    assert estimated["v1 F1"][2:] == [None, None]
    assert h.panel("realised").guides[0].value == 0.7


def test_drift_score_per_bucket_is_the_screens_wasserstein_over_its_threshold(tmp_path):
    """Bucket 0: 1,000 rows shaped like the reference; bucket 1: 1,000 rows shifted by one std; bucket 2: 999 rows,
    too few for a distance test's score; bucket 3: none."""
    reference = pd.DataFrame({"x": stats.norm.ppf((np.arange(2000) + 0.5) / 2000), "y": np.zeros(2000) + 1.0})
    quantiles = stats.norm.ppf((np.arange(1000) + 0.5) / 1000)
    rows = [_row(i, SINCE + i * 0.5, "1", "champion", 0.3, 1.0, float(x)) for i, x in enumerate(quantiles)]
    rows += [_row(1000 + i, SINCE + BUCKET + i * 0.5, "1", "champion", 0.3, 1.0, float(x) + 1.0)
             for i, x in enumerate(quantiles)]
    rows += [_row(2000 + i, SINCE + 2 * BUCKET + i * 0.5, "1", "champion", 0.3, 1.0, 0.0) for i in range(999)]
    with PredictionLog(tmp_path / "d.db") as log:
        log.write_predictions([r.__class__(**{**r.__dict__, "features": {"x": r.features["x"], "y": 1.0}})
                               for r in rows])
        profile = build_profile(reference, kinds={"x": "numerical", "y": "numerical"})
        h = health_history(log, "m", since=SINCE, until=UNTIL, buckets=4, profile=profile, top_k=1)
    (x,) = h.panel("drift").series  # top_k=1: the feature that drifted, not the constant one
    assert x.name == "x"
    shifted = quantiles + 1.0
    expected = stats.wasserstein_distance(reference["x"], shifted) / reference["x"].std(ddof=0) / 0.1
    assert x.values[1] == pytest.approx(expected, rel=1e-3)
    assert x.values[0] < 0.1 < 1.0 < x.values[1]
    assert x.values[2:] == [None, None]
    assert h.panel("drift").guides[0].value == 1.0


def test_small_buckets_leave_the_drift_panel_empty_and_say_why(history):
    h, _ = history
    drift = h.panel("drift")
    assert drift.series == [] and "fewer than 1,000 predictions" in drift.note


def test_a_deploy_marker_where_v2_first_served(history):
    h, _ = history
    assert [(m.kind, m.label, m.at) for m in h.markers] == [("deploy", "v2 serves as canary", SINCE + BUCKET + 100)]


def test_drift_score_scale():
    assert drift_score("wasserstein", 0.05, 0.1) == pytest.approx(0.5)
    assert drift_score("ks", 0.05, 0.05) == pytest.approx(1.0)
    assert drift_score("ks", 1.0, 0.05) == 0.0
    assert drift_score("ks", 0.0, 0.05) == 10.0  # capped
    assert top_features([{"a": 0.2, "b": 3.0}, {"a": 5.0, "b": None, "c": 0.1}], 2) == ["a", "b"]
    assert DRIFT_SAMPLE_ROWS == 5_000


def test_bad_windows_are_refused_with_a_message():
    with pytest.raises(HistoryError, match="buckets must be between"):
        resolve_window(SINCE, UNTIL, 1)
    with pytest.raises(HistoryError, match="before 'until'"):
        resolve_window(UNTIL, SINCE, 4)
    with pytest.raises(HistoryError, match="at most 30"):
        resolve_window(SINCE - 40 * 86_400, SINCE, 4)


def test_an_empty_log_gives_empty_panels_that_say_why(tmp_path):
    with PredictionLog(tmp_path / "empty.db") as log:
        h = health_history(log, "m", since=SINCE, until=UNTIL, buckets=4)
    assert h.rows == 0 and h.markers == []
    assert all(not p.series and p.note for p in h.panels)
