"""Service-level objectives and data quality from a prediction-log window.

A row is an error when a fallback answered it (``role == "fallback"`` or ``fallback_reason`` set); it is
charged to the version the router meant to use (``intended_version``) when the log names one. The
rejection rate counts rejected rows against rejected plus answered rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel

LOG_COLUMNS = frozenset({"request_id", "record_id", "ts", "model", "version", "role", "fallback_reason",
                         "intended_version", "score", "label", "latency_ms"})


class VersionSLO(BaseModel):
    """Latency percentiles and error rate for one version (or ``"all"``)."""

    version: str
    n: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    error_rate: float
    latency_breached: bool
    error_rate_breached: bool


class SLOReport(BaseModel):
    n_requests: int
    overall: VersionSLO
    versions: list[VersionSLO]
    p95_latency_ms: float
    max_error_rate: float

    @property
    def breaches(self) -> list[VersionSLO]:
        return [v for v in self.versions if v.latency_breached or v.error_rate_breached]


class DataQuality(BaseModel):
    """Rejections (schema breaks, null storms caught at the door) and nulls that got through."""

    n_requests: int
    n_rejected: int
    rejection_rate: float
    null_share: dict[str, float]
    max_null_share: float
    rejection_breached: bool
    null_breached: bool


def _errors(window: pd.DataFrame) -> pd.Series:
    err = pd.Series(False, index=window.index)
    if "role" in window:
        err |= window["role"].astype(str).eq("fallback")
    if "fallback_reason" in window:
        err |= window["fallback_reason"].notna() & window["fallback_reason"].astype(str).ne("")
    return err


def _version_slo(name: str, latency: np.ndarray, errors: np.ndarray, p95_latency_ms: float,
                 max_error_rate: float, min_requests: int) -> VersionSLO:
    n = len(latency)
    p50, p95, p99 = (np.percentile(latency, [50, 95, 99]) if n else (np.nan, np.nan, np.nan))
    n_err = int(errors.sum())
    rate = n_err / n if n else 0.0
    enough = n >= min_requests
    return VersionSLO(version=name, n=n, p50_ms=float(p50), p95_ms=float(p95), p99_ms=float(p99), errors=n_err,
                      error_rate=rate, latency_breached=bool(enough and p95 > p95_latency_ms),
                      error_rate_breached=bool(enough and rate > max_error_rate))


def slo_report(window: pd.DataFrame, *, p95_latency_ms: float = 250.0, max_error_rate: float = 0.01,
               min_requests: int = 20) -> SLOReport:
    """Latency p50/p95/p99 and error rate overall and per version, against the SLO thresholds."""
    errors = _errors(window)
    by = window["version"].astype(str)
    if "intended_version" in window:
        by = window["intended_version"].where(window["intended_version"].notna() & errors, by).astype(str)
    latency = window["latency_ms"].to_numpy(float) if len(window) else np.zeros(0)
    versions = [
        _version_slo(str(v), latency[idx], errors.to_numpy()[idx], p95_latency_ms, max_error_rate, min_requests)
        for v, idx in sorted(by.groupby(by).indices.items())
    ]
    overall = _version_slo("all", latency, errors.to_numpy(), p95_latency_ms, max_error_rate, min_requests)
    return SLOReport(n_requests=len(window), overall=overall, versions=versions, p95_latency_ms=p95_latency_ms,
                     max_error_rate=max_error_rate)


def data_quality(window: pd.DataFrame, rejections: pd.DataFrame | int | None, feature_columns: Sequence[str], *,
                 max_rejection_rate: float = 0.02, max_null_share: float = 0.05,
                 min_requests: int = 20) -> DataQuality:
    """Rejection rate (rows rejected / rows offered) and null share per feature among answered rows."""
    if rejections is None:
        n_rej = 0
    elif isinstance(rejections, int):
        n_rej = rejections
    else:
        n_rej = int(rejections["rows"].sum()) if "rows" in rejections else len(rejections)
    n = len(window)
    offered = n + n_rej
    rate = n_rej / offered if offered else 0.0
    cols = [c for c in feature_columns if c in window.columns]
    missing = [c for c in feature_columns if c not in window.columns]
    nulls = {c: float(window[c].isna().mean()) if n else 0.0 for c in cols}
    nulls.update({c: 1.0 for c in missing})  # a column the log lacks entirely is a schema break
    worst = max(nulls.values(), default=0.0)
    return DataQuality(n_requests=n, n_rejected=n_rej, rejection_rate=rate, null_share=nulls, max_null_share=worst,
                       rejection_breached=bool(offered >= min_requests and rate > max_rejection_rate),
                       null_breached=bool(n >= min_requests and worst > max_null_share))
