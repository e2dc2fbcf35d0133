"""Six hours of deterministic churn traffic for the health page and post-mortem chart tests.

Twelve buckets of 30 minutes, 1,000 predictions each (enough for a drift score against churn's reference):
v1 serves throughout; v2 joins as a 20 % canary from bucket 6 (a few of its requests answered by v1's
fallback); ``total_day_minutes`` shifts by +80 from bucket 8; labels arrive for buckets 0-9. A handful of v1
predictions before the window say v1 was already live. An incident and a proposal fall inside the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog, PredictionRow

BUCKETS = 12
BUCKET_S = 1800.0
ROWS = 1000
HOURS = BUCKETS * BUCKET_S / 3600


@dataclass(frozen=True)
class Traffic:
    since: float
    until: float
    rows: int


def _features(churn_df: pd.DataFrame, rng: np.random.Generator, n: int, shift: float) -> list[dict]:
    rows = churn_df[list(CHURN_SCHEMA.feature_names)].sample(n, replace=True, random_state=int(rng.integers(1 << 30)))
    rows = rows.assign(total_day_minutes=rows["total_day_minutes"] + shift)
    return rows.to_dict("records")


def write_churn_traffic(layout: HomeLayout, churn_df: pd.DataFrame, until: float) -> Traffic:
    """Write the traffic into churn's prediction log, ending at ``until``; rows sit in the middle of their
    buckets, so a page asked for the same window a few seconds later buckets them the same way."""
    rng = np.random.default_rng(11)
    since = until - BUCKETS * BUCKET_S
    rows, labels, i = [], [], 0
    for b in range(-1, BUCKETS):
        n = 5 if b < 0 else ROWS
        feats = _features(churn_df, rng, n, 80.0 if b >= 8 else 0.0)
        for k in range(n):
            canary = b >= 6 and k % 5 == 0
            fallback = canary and k % 100 == 0
            score = float(rng.beta(2, 5))
            version = "1" if (not canary or fallback) else "2"
            role = "fallback" if fallback else "canary" if canary else "champion"
            rows.append(PredictionRow(
                request_id=f"q{i}", record_id=f"c{i}", ts=since + b * BUCKET_S + 300 + k * 1.2, model="churn",
                version=version, role=role, fallback_reason="error: canary crashed" if fallback else None,
                intended_version="2" if fallback else None, score=score, label=int(score >= 0.5),
                latency_ms=float(8 + (k % 20) + (30 if version == "2" else 0)), features=feats[k]))
            if 0 <= b < 10:
                labels.append((f"c{i}", int(rng.random() < score)))
            i += 1
    with PredictionLog(layout.predictions_db("churn")) as log:
        log.write_predictions(rows)
        log.write_labels(labels)
    return Traffic(since=since, until=until, rows=BUCKETS * ROWS)
