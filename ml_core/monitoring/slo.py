"""Service-level objectives and data quality from a prediction-log window.

A row is an error when a fallback answered it (``role == "fallback"`` or ``fallback_reason`` set); it is
charged to the version the router meant to use (``intended_version``) when the log names one. An error
whose ``fallback_reason`` starts with "timeout" is also a timeout: the version answered too slowly rather
than crashed. The rejection rate counts rejected rows against rejected plus answered rows; the rejected
fields come from the scoring service's structured error list (the ``reason`` JSON of each rejection).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

LOG_COLUMNS = frozenset({"request_id", "record_id", "ts", "model", "version", "role", "fallback_reason",
                         "intended_version", "score", "label", "latency_ms"})
# The scoring service's problem codes about one field's value (ml_core.serving.contract); the others
# (bad_body, batch_too_large, malformed_json) are about the request as a whole.
FIELD_PROBLEMS = frozenset({"missing", "null", "wrong_type", "out_of_range", "unknown_category"})
MAX_REJECTED_FIELDS = 8


class VersionSLO(BaseModel):
    """Latency percentiles, errors and timeouts for one version (or ``"all"``)."""

    version: str = Field(description="the version the router meant to use, or 'all'")
    n: int = Field(description="requests charged to this version")
    p50_ms: float = Field(description="median latency, ms")
    p95_ms: float = Field(description="95th-percentile latency, ms")
    p99_ms: float = Field(description="99th-percentile latency, ms")
    errors: int = Field(description="requests a fallback answered instead of this version")
    timeouts: int = Field(0, description="errors whose fallback reason is a timeout (too slow, not a crash)")
    error_rate: float = Field(description="errors / n")
    latency_breached: bool = Field(description="p95 above the latency SLO, with enough requests to judge")
    error_rate_breached: bool = Field(description="error rate above the error SLO, with enough requests to judge")


class SLOReport(BaseModel):
    n_requests: int
    overall: VersionSLO
    versions: list[VersionSLO]
    p95_latency_ms: float
    max_error_rate: float

    @property
    def breaches(self) -> list[VersionSLO]:
        return [v for v in self.versions if v.latency_breached or v.error_rate_breached]


class RejectedField(BaseModel):
    """One (field, problem) pair the scoring service rejected requests for, and how often."""

    field: str = Field(description="the request field the service rejected")
    problem: str = Field(description="the service's problem code, e.g. null, missing, wrong_type, out_of_range")
    count: int = Field(description="error entries with this field and problem in the window's rejections")
    first_at: float | None = Field(None, description="unix seconds of the window's earliest rejection with this "
                                                     "field and problem (None: the log has no times)")


class NullField(BaseModel):
    """A feature with nulls among the window's answered rows: how many, and since when."""

    field: str
    count: int = Field(description="answered rows with this feature null")
    first_at: float | None = Field(None, description="unix seconds of the window's earliest answered row with it "
                                                     "null (None: the window has no times)")


class DataQuality(BaseModel):
    """Rejections (schema breaks, null storms caught at the door) and nulls that got through."""

    n_requests: int
    n_rejected: int
    rejection_rate: float
    null_share: dict[str, float]
    max_null_share: float
    rejection_breached: bool
    null_breached: bool
    reference_null_share: dict[str, float] = Field(
        default_factory=dict, description="null share per feature in the reference (nullable columns have gaps)")
    null_breached_columns: list[str] = Field(
        default_factory=list, description="columns whose null share rose past the limit (significantly, for a "
                                          "column with gaps in the reference), worst first")
    rejected_fields: list[RejectedField] = Field(
        default_factory=list, description=f"the {MAX_REJECTED_FIELDS} most frequent (field, problem) pairs behind "
        "the rejections, most frequent first")
    null_fields: list[NullField] = Field(default_factory=list, description="features with nulls in the window, "
                                                                           "most nulls first")


def _errors(window: pd.DataFrame) -> pd.Series:
    err = pd.Series(False, index=window.index)
    if "role" in window:
        err |= window["role"].astype(str).eq("fallback")
    if "fallback_reason" in window:
        err |= window["fallback_reason"].notna() & window["fallback_reason"].astype(str).ne("")
    return err


def _timeouts(window: pd.DataFrame, errors: pd.Series) -> pd.Series:
    if "fallback_reason" not in window:
        return pd.Series(False, index=window.index)
    reason = window["fallback_reason"]
    failed = errors & reason.notna()
    if not failed.any():  # the usual window: no string work over a million rows
        return failed
    return failed & reason.where(failed, "").astype(str).str.startswith("timeout")


def _version_slo(name: str, latency: np.ndarray, errors: np.ndarray, timeouts: np.ndarray, p95_latency_ms: float,
                 max_error_rate: float, min_requests: int) -> VersionSLO:
    n = len(latency)
    p50, p95, p99 = (np.percentile(latency, [50, 95, 99]) if n else (np.nan, np.nan, np.nan))
    n_err = int(errors.sum())
    rate = n_err / n if n else 0.0
    enough = n >= min_requests
    return VersionSLO(version=name, n=n, p50_ms=float(p50), p95_ms=float(p95), p99_ms=float(p99), errors=n_err,
                      timeouts=int(timeouts.sum()), error_rate=rate,
                      latency_breached=bool(enough and p95 > p95_latency_ms),
                      error_rate_breached=bool(enough and rate > max_error_rate))


def slo_report(window: pd.DataFrame, *, p95_latency_ms: float = 250.0, max_error_rate: float = 0.01,
               min_requests: int = 20) -> SLOReport:
    """Latency p50/p95/p99, error rate and timeouts overall and per version, against the SLO thresholds."""
    errors = _errors(window)
    timeouts = _timeouts(window, errors).to_numpy()
    by = window["version"].astype(str)
    if "intended_version" in window:
        by = window["intended_version"].where(window["intended_version"].notna() & errors, by).astype(str)
    latency = window["latency_ms"].to_numpy(float) if len(window) else np.zeros(0)
    err = errors.to_numpy()
    versions = [
        _version_slo(str(v), latency[idx], err[idx], timeouts[idx], p95_latency_ms, max_error_rate, min_requests)
        for v, idx in sorted(by.groupby(by).indices.items())
    ]
    overall = _version_slo("all", latency, err, timeouts, p95_latency_ms, max_error_rate, min_requests)
    return SLOReport(n_requests=len(window), overall=overall, versions=versions, p95_latency_ms=p95_latency_ms,
                     max_error_rate=max_error_rate)


def data_quality(window: pd.DataFrame, rejections: pd.DataFrame | int | None, feature_columns: Sequence[str], *,
                 max_rejection_rate: float = 0.02, max_null_share: float = 0.05,
                 min_requests: int = 20, reference_null_share: Mapping[str, float] | None = None,
                 alpha: float = 0.01) -> DataQuality:
    """Rejection rate (rows rejected / rows offered) and null share per feature among answered rows.

    A column that had gaps in the reference (a nullable column) is judged by its null share *above* the
    reference's, so a table whose Income is 9 % null is not an alarm until it is 9 % + ``max_null_share`` --
    and, since its gaps vary by chance (a 30-row window of a 9 %-null column is 15 % null one time in five),
    only when the rise is significant: a one-sided binomial test of the window's null count against the
    reference share, at ``alpha`` Bonferroni-corrected over the nullable columns, so a window from the
    reference's own distribution raises it at most ``alpha`` of the time. A column never null in the
    reference needs no test: a null in it is already evidence."""
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
    ref = {c: float(v) for c, v in (reference_null_share or {}).items() if c in nulls}
    excess = {c: nulls[c] - ref.get(c, 0.0) for c in nulls}
    worst = max(excess.values(), default=0.0)
    nullable = [c for c in cols if ref.get(c, 0.0) > 0]
    level = alpha / max(len(nullable), 1)
    chance = {c: float(stats.binom.sf(int(window[c].isna().sum()) - 1, n, ref[c])) for c in nullable
              if excess[c] > max_null_share}
    breached = sorted((c for c in nulls if excess[c] > max_null_share and chance.get(c, 0.0) < level),
                      key=lambda c: -excess[c]) if n >= min_requests else []
    return DataQuality(n_requests=n, n_rejected=n_rej, rejection_rate=rate, null_share=nulls, max_null_share=worst,
                       reference_null_share=ref,
                       rejection_breached=bool(offered >= min_requests and rate > max_rejection_rate),
                       null_breached=bool(breached), null_breached_columns=breached,
                       rejected_fields=rejected_fields(rejections) if isinstance(rejections, pd.DataFrame) else [],
                       null_fields=null_fields(window, cols))


def _earliest(ts: pd.Series) -> float | None:
    ts = pd.to_numeric(ts, errors="coerce").dropna()
    return float(ts.min()) if len(ts) else None


def null_fields(window: pd.DataFrame, columns: Sequence[str]) -> list[NullField]:
    """Each of ``columns`` with nulls in ``window``: the count and the earliest ``ts`` among those rows."""
    out = []
    for c in columns:
        null = window[c].isna()
        if null.any():
            first = _earliest(window.loc[null, "ts"]) if "ts" in window.columns else None
            out.append(NullField(field=c, count=int(null.sum()), first_at=first))
    return sorted(out, key=lambda f: (-f.count, f.field))


def rejected_fields(rejections: pd.DataFrame, limit: int = MAX_REJECTED_FIELDS) -> list[RejectedField]:
    """The most frequent (field, problem) pairs in ``PredictionLog.rejections()``, most frequent first.

    Each rejection's ``reason`` is the JSON body the scoring service wrote (``{"errors": [{"field": ...,
    "problem": ...}, ...]}``); reasons that are not such JSON, and errors without a field, are skipped.
    """
    counts: Counter[tuple[str, str]] = Counter()
    first: dict[tuple[str, str], float] = {}
    times = rejections["ts"] if "ts" in rejections else pd.Series([None] * len(rejections), index=rejections.index)
    for reason, ts in zip(rejections.get("reason", []), times, strict=False):
        try:
            errors = json.loads(reason).get("errors", [])
        except (TypeError, ValueError, AttributeError):
            continue
        pairs = [(str(e["field"]), str(e.get("problem"))) for e in errors if isinstance(e, dict) and e.get("field")]
        counts.update(pairs)
        if ts is not None and pd.notna(ts):
            for pair in pairs:
                first[pair] = min(first.get(pair, float(ts)), float(ts))
    return [RejectedField(field=f, problem=p, count=c, first_at=first.get((f, p)))
            for (f, p), c in counts.most_common(limit)]
