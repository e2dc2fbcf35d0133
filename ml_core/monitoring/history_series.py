"""Per-bucket numbers behind the health history: performance, latency, errors and traffic per version, and the
drift score of each feature, each bucket of a prediction-log window on its own.

A bucket with too few rows for a number gets ``None`` (a gap in the chart), never a number computed on noise:
the minimums are stated beside each constant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ml_core.monitoring.drift_screen import P_VALUE_TESTS, SMALL_REFERENCE_ROWS, ReferenceProfile, screen
from ml_core.monitoring.performance import expected_auc
from ml_core.monitoring.slo import _errors as fallback_answered  # the SLO check's own rule for an error

# F1 or AUC on fewer than 30 labelled (or scored) rows swings by more than 0.15 from one bucket to the next on an
# unchanged model (its standard error with a 30 % positive rate is about 0.15): a point there would chart noise.
MIN_PERFORMANCE_ROWS = 30
# A 95th percentile of fewer than 20 rows is the largest of them; an error rate on fewer than 20 requests moves
# in steps of 5 % or more. The SLO check asks the same 20 (slo.slo_report's min_requests).
MIN_SLO_ROWS = 20
# A drift score per bucket is the drift screen on at most this many rows sampled from the bucket, so a busy
# model's bucket costs what a quiet one's does; at 5,000 rows the sample's own noise is a small part of the
# threshold (a bucket of 2,000 rows drawn from a 3,000-row reference itself: 95th percentile of the normed
# Wasserstein distance 0.054, against Evidently's 0.1).
DRIFT_SAMPLE_ROWS = 5_000
# Evidently's distance tests (a reference over 1,000 rows) are not calibrated for small windows: a bucket drawn
# from the reference itself crosses the 0.1 threshold often when it is small. From 1,000 rows it stays under
# it 95 % of the time (measured, 300 draws: 95th percentile of the normed Wasserstein distance 0.107 with a
# 1,001-row reference, 0.072 with 3,000; Jensen-Shannon on five categories 0.05), so a point above the line
# means something. The p-value tests (a reference of 1,000 rows or fewer) cross their threshold 5 % of the
# time at any size; they need only the drift check's own smallest window, 30 rows (ml_core.watch).
MIN_DRIFT_ROWS_DISTANCE = 1_000
MIN_DRIFT_ROWS_PVALUE = 30
SCORE_CAP = 10.0  # a drift score is shown up to ten times the threshold; beyond that "far past it" is the message


def bucket_index(ts: np.ndarray, since: float, bucket_s: float, n: int) -> np.ndarray:
    """Each timestamp's bucket, 0 .. n-1 (a row at ``until`` exactly falls in the last bucket)."""
    return np.clip(np.floor((np.asarray(ts, float) - since) / bucket_s).astype(np.int64), 0, n - 1)


def charged_version(window: pd.DataFrame) -> pd.Series:
    """The version a request counts against: the one the router meant when a fallback answered (as slo.py)."""
    by = window["version"].astype(str)
    if "intended_version" in window:
        errors = fallback_answered(window)
        by = window["intended_version"].where(window["intended_version"].notna() & errors, by).astype(str)
    return by


def _grid(n: int) -> list[float | None]:
    return [None] * n


def traffic(buckets: np.ndarray, versions: pd.Series, n: int, bucket_s: float) -> dict[str, list[float | None]]:
    """Requests per minute charged to each version, per bucket: None before its first request (it was not serving
    yet), 0 in a bucket after that without any (it stopped, or traffic did)."""
    out: dict[str, list[float | None]] = {}
    for version, idx in versions.groupby(versions).indices.items():
        counts = np.bincount(buckets[idx], minlength=n)
        first = int(np.flatnonzero(counts)[0])
        out[str(version)] = [None if i < first else float(c) * 60.0 / bucket_s for i, c in enumerate(counts)]
    return out


def latency_p95(buckets: np.ndarray, versions: pd.Series, latency: np.ndarray, n: int) -> dict[str, list[float | None]]:
    """95th-percentile latency (ms) of each version's requests per bucket."""
    out: dict[str, list[float | None]] = {}
    for version, idx in versions.groupby(versions).indices.items():
        values = _grid(n)
        for b, rows in pd.Series(idx).groupby(buckets[idx]).indices.items():
            if len(rows) >= MIN_SLO_ROWS:
                values[int(b)] = float(np.percentile(latency[idx[rows]], 95))
        out[str(version)] = values
    return out


def error_rate(buckets: np.ndarray, versions: pd.Series, errors: np.ndarray, n: int) -> dict[str, list[float | None]]:
    """Share of each version's requests a fallback answered, per bucket."""
    out: dict[str, list[float | None]] = {}
    for version, idx in versions.groupby(versions).indices.items():
        total = np.bincount(buckets[idx], minlength=n)
        failed = np.bincount(buckets[idx], weights=errors[idx].astype(float), minlength=n)
        out[str(version)] = [float(f / t) if t >= MIN_SLO_ROWS else None for f, t in zip(failed, total, strict=True)]
    return out


def _f1(tp: float, fp: float, fn: float) -> float | None:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else None


def realised(buckets: np.ndarray, labelled: pd.DataFrame, n: int) -> dict[str, dict[str, list[float | None]]]:
    """F1 (of the served decision) and ROC AUC on the labelled predictions, per version and bucket."""
    out: dict[str, dict[str, list[float | None]]] = {}
    versions = labelled["version"].astype(str)
    actual = labelled["actual"].to_numpy(int).astype(bool)
    predicted = labelled["predicted"].to_numpy(int).astype(bool)
    score = labelled["score"].to_numpy(float)
    for version, idx in versions.groupby(versions).indices.items():
        f1, auc = _grid(n), _grid(n)
        for b, rows in pd.Series(idx).groupby(buckets[idx]).indices.items():
            if len(rows) < MIN_PERFORMANCE_ROWS:
                continue
            at = idx[rows]
            y, pred = actual[at], predicted[at]
            f1[int(b)] = _f1(float((y & pred).sum()), float((~y & pred).sum()), float((y & ~pred).sum()))
            if 0 < y.sum() < len(y):
                auc[int(b)] = float(roc_auc_score(y, score[at]))
        out[str(version)] = {"f1": f1, "auc": auc}
    return out


def estimated(buckets: np.ndarray, window: pd.DataFrame, n: int) -> dict[str, dict[str, list[float | None]]]:
    """Label-free F1 and AUC (CBPE, as ``performance.estimate_metrics``) per version and bucket: a row scored p
    is a positive with probability p; the decision is the one served (the log's label), so each version is
    judged at its own threshold."""
    out: dict[str, dict[str, list[float | None]]] = {}
    versions = window["version"].astype(str)
    p = window["score"].to_numpy(float)
    pred = window["label"].to_numpy(int).astype(bool)
    for version, idx in versions.groupby(versions).indices.items():
        f1, auc = _grid(n), _grid(n)
        for b, rows in pd.Series(idx).groupby(buckets[idx]).indices.items():
            if len(rows) < MIN_PERFORMANCE_ROWS:
                continue
            at = idx[rows]
            pb, yb = p[at], pred[at]
            f1[int(b)] = _f1(float(pb[yb].sum()), float((1 - pb[yb]).sum()), float(pb[~yb].sum()))
            value = expected_auc(pb)
            auc[int(b)] = value if math.isfinite(value) else None
        out[str(version)] = {"f1": f1, "auc": auc}
    return out


def drift_score(test: str, statistic: float, threshold: float) -> float:
    """A test's statistic on one scale, where 1 is Evidently's threshold and more is more drift: a distance over
    its threshold, or log p over log threshold for a p-value test (p = threshold gives 1, p = 1 gives 0)."""
    if test in P_VALUE_TESTS:
        value = math.log(max(statistic, 1e-300)) / math.log(threshold) if statistic < 1 else 0.0
    else:
        value = statistic / threshold
    return float(min(max(value, 0.0), SCORE_CAP))


def min_drift_rows(profile: ReferenceProfile) -> int:
    """The fewest rows a bucket needs for a drift score against this reference (see the constants)."""
    return MIN_DRIFT_ROWS_PVALUE if profile.n_rows <= SMALL_REFERENCE_ROWS else MIN_DRIFT_ROWS_DISTANCE


def bucket_drift(profile: ReferenceProfile, frame: pd.DataFrame, seed: int) -> dict[str, float | None]:
    """Each profiled feature's drift score in one bucket's rows (sampled down to ``DRIFT_SAMPLE_ROWS``); None for
    a feature the bucket lacks or holds no value of. Evidently's own test and statistic, without the check's
    sufficiency rules: a chart point is a score, not a finding, and ``min_drift_rows`` already keeps thin buckets
    out (the rules cost 40 % of the screen's time here)."""
    names = list(profile.columns)
    scores: dict[str, float | None] = dict.fromkeys(names)
    if len(frame) < min_drift_rows(profile):
        return scores
    if len(frame) > DRIFT_SAMPLE_ROWS:
        frame = frame.sample(DRIFT_SAMPLE_ROWS, random_state=seed)
    present = {c: p for c, p in profile.columns.items() if c in frame.columns and _has_values(frame[c], p.numeric)}
    if present:
        result = screen(ReferenceProfile(columns=present), frame[list(present)])
        for f in result.features:
            scores[f.name] = drift_score(f.test, f.statistic, f.threshold)
    return scores


def _has_values(column: pd.Series, numeric: bool) -> bool:
    """Whether the screen can test the column: a finite number (numeric reference) or any value."""
    if numeric and pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return bool(np.isfinite(column.to_numpy(dtype=float, na_value=np.nan)).any())
    return bool(column.notna().any())


def chunks(counts: Sequence[int], max_rows: int) -> list[tuple[int, int]]:
    """Runs of consecutive buckets [first, last) holding at most ``max_rows`` rows together (a bucket larger than
    that is a run of its own): what one read of the log's features covers."""
    runs, first, rows = [], 0, 0
    for i, n in enumerate(counts):
        if i > first and rows + n > max_rows:
            runs.append((first, i))
            first, rows = i, 0
        rows += n
    if len(counts):
        runs.append((first, len(counts)))
    return runs


def top_features(per_bucket: Sequence[dict[str, float | None]], k: int) -> list[str]:
    """The ``k`` features with the highest drift score in any bucket (ties: by name, for a stable chart)."""
    best: dict[str, float] = {}
    for scores in per_bucket:
        for name, value in scores.items():
            if value is not None:
                best[name] = max(best.get(name, 0.0), value)
    return sorted(best, key=lambda name: (-best[name], name))[:k]
