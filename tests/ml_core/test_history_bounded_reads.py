"""The post-mortem's chart is drawn on every tick of an incident: with ``drift_rows`` its feature reads are each
bucket's last rows, so they stop growing with the traffic (the soak's steps of memory came from them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml_core.monitoring.drift_screen import build_profile
from ml_core.monitoring.history import feature_reads, health_history
from ml_core.predlog import PredictionLog, PredictionRow

SINCE = 1_800_000_000.0
BUCKET = 100.0


def test_a_bucket_over_the_cap_is_read_alone_from_its_last_rows():
    # Buckets of 100 s: 3, 0, 5 and 2 rows; a cap of 2 rows; each bucket "enough" when it has any.
    ts = np.array([10, 20, 30, 200, 210, 220, 230, 240, 300, 350], float) + SINCE
    enough = [3, 0, 5, 2]
    assert feature_reads(ts, SINCE, BUCKET, enough, None) == [(SINCE, 0, 4)]  # one run, every row
    assert feature_reads(ts, SINCE, BUCKET, enough, 2) == [(SINCE + 20, 0, 1), (SINCE + 230, 2, 3),
                                                            (SINCE + 300, 3, 4)]
    assert feature_reads(ts, SINCE, BUCKET, [0, 0, 0, 0], 2) == []


def _rows(n_per_bucket: int, buckets: int, shift_from: int) -> list[PredictionRow]:
    """``n_per_bucket`` rows a bucket, x drawn from N(0, 1) (shifted by 1 std from bucket ``shift_from``)."""
    x = np.random.default_rng(3).normal(0.0, 1.0, n_per_bucket)
    rows = []
    for b in range(buckets):
        for i, v in enumerate(x):
            k = b * n_per_bucket + i
            rows.append(PredictionRow(request_id=f"q{k}", record_id=f"r{k}", ts=SINCE + b * BUCKET + i * BUCKET /
                                      n_per_bucket, model="m", version="1", role="champion", fallback_reason=None,
                                      intended_version=None, score=0.3, label=0, latency_ms=1.0,
                                      features={"x": float(v) + (1.0 if b >= shift_from else 0.0)}))
    return rows


@pytest.mark.parametrize("per_bucket", [1_500, 4_000])
def test_with_drift_rows_the_features_read_stay_the_same_however_busy_the_model(tmp_path, per_bucket, monkeypatch):
    reference = pd.DataFrame({"x": stats.norm.ppf((np.arange(2000) + 0.5) / 2000)})
    read: list[int] = []
    original = PredictionLog.predictions

    def counting(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if kwargs.get("with_features", True):
            read.append(len(out))
        return out

    monkeypatch.setattr(PredictionLog, "predictions", counting)
    with PredictionLog(tmp_path / "m.db") as log:
        log.write_predictions(_rows(per_bucket, 3, shift_from=2))
        h = health_history(log, "m", since=SINCE, until=SINCE + 3 * BUCKET, buckets=3, top_k=1, drift_rows=1_000,
                           profile=build_profile(reference, kinds={"x": "numerical"}))
    assert read == [1_000, 1_000, 1_000]  # each bucket's last 1,000 rows, not its 1,500 or 4,000
    (x,) = h.panel("drift").series
    assert x.values[0] < 1.0 and x.values[1] < 1.0 < x.values[2]  # still tells the shifted bucket apart
