"""A model's health over time: per-bucket series of realised and estimated performance, drift of the top features,
p95 latency, error rate and traffic, per version, with the moments a version started serving marked.

What the health page charts and the post-mortem embeds. Bounded for a large log:

- the light columns (time, version, role, score, decision, latency) are read once for the window, column-wise
  from the log's Parquet segments (about 50 bytes a row: a million predictions take ~50 MB);
- features are read for runs of buckets of at most ``FEATURE_READ_ROWS`` rows together (a bucket too thin for a
  drift score is not read), and the drift screen runs on at most ``DRIFT_SAMPLE_ROWS`` rows sampled from each
  bucket (seeded: the same log gives the same chart), so memory holds one run's features at most;
- with ``drift_rows`` (the post-mortem's chart, drawn on every tick of an incident), only each bucket's last
  ``drift_rows`` rows have their features read at all, so a chart's feature reads stop growing with the traffic;
- the window is at most ``MAX_SPAN_S`` long and cut into at most ``MAX_BUCKETS`` buckets.

Incidents and proposals live above ml_core; callers add them as :class:`Marker` s.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from ml_core.monitoring import history_series as hs
from ml_core.monitoring.drift_screen import ReferenceProfile
from ml_core.predlog import PredictionLog
from ml_core.predlog_segments import SEGMENT_MAX_ROWS

MAX_SPAN_S = 30 * 86_400  # a month: what a person scrolls back through; longer windows are other tools' job
MAX_BUCKETS = 200  # more points than a chart a page wide can show apart
DEFAULT_SPAN_S = 86_400.0
TOP_FEATURES = 4
# Features are read for runs of buckets holding at most this many rows together: one sealed segment's size
# (predlog_segments.SEGMENT_MAX_ROWS), so a read touches two or three files and holds ~250,000 rows' features.
FEATURE_READ_ROWS = SEGMENT_MAX_ROWS
LIGHT_COLUMNS = ("ts", "version", "role", "fallback_reason", "intended_version", "score", "label", "latency_ms")
SERVING_ROLES = ("champion", "canary")
# Colours shared by the page's SVG and the post-mortem's PNG: Okabe-Ito (colour-blind safe), assigned to versions
# oldest first, so a version keeps its colour in every chart.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00", "#000000", "#999999")
MARKER_COLOURS = {"deploy": "#009E73", "incident": "#D55E00", "proposal": "#E69F00"}
PanelKey = Literal["realised", "estimated", "drift", "latency", "errors", "traffic"]
MarkerKind = Literal["deploy", "incident", "proposal"]


class HistoryError(ValueError):
    """A window the history cannot be drawn for; the message says what to change."""


class Series(BaseModel):
    name: str = Field(description="what the line is: 'v2 F1', a feature name, 'v1'")
    version: str | None = Field(None, description="the version it belongs to (its colour), None for a feature")
    dashed: bool = Field(False, description="a second metric of the same version (AUC beside F1)")
    values: list[float | None] = Field(description="one per bucket; None: too few rows in that bucket to say")


class Guide(BaseModel):
    value: float
    label: str


class Panel(BaseModel):
    key: PanelKey
    title: str
    unit: str
    series: list[Series] = Field(default_factory=list)
    guides: list[Guide] = Field(default_factory=list, description="horizontal reference lines (SLOs, thresholds)")
    note: str = Field("", description="why the panel is empty, when it is")


class Marker(BaseModel):
    at: float = Field(description="unix seconds")
    kind: MarkerKind
    label: str
    link: str | None = Field(None, description="a page about it (an incident, a proposal), when there is one")


class HealthHistory(BaseModel):
    model: str
    since: float
    until: float
    bucket_s: float
    starts: list[float] = Field(description="each bucket's start, unix seconds")
    versions: list[str] = Field(description="versions that served in the window, oldest first")
    panels: list[Panel]
    markers: list[Marker] = Field(default_factory=list)
    rows: int = Field(description="predictions in the window")
    labelled: int = Field(description="of them, with a label")

    def panel(self, key: PanelKey) -> Panel:
        return next(p for p in self.panels if p.key == key)


def _version_key(v: str) -> tuple[int, float, str]:
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def resolve_window(since: float | None, until: float | None, buckets: int) -> tuple[float, float]:
    """The window asked for, checked: ``until`` defaults to now, ``since`` to a day before it."""
    if not 2 <= buckets <= MAX_BUCKETS:
        raise HistoryError(f"buckets must be between 2 and {MAX_BUCKETS}, got {buckets}")
    end = float(until) if until is not None else time.time()
    start = float(since) if since is not None else end - DEFAULT_SPAN_S
    if start >= end:
        raise HistoryError("the window is empty: 'since' must come before 'until'")
    if end - start > MAX_SPAN_S:
        raise HistoryError(f"the window is {(end - start) / 86_400:.0f} days; at most {MAX_SPAN_S // 86_400} "
                           "days can be charted: shorten it")
    return start, end


def prediction_times(log: PredictionLog, since: float, until: float) -> np.ndarray:
    """When each prediction in [since, until) was made, oldest first (the time column alone: 8 bytes a row)."""
    return log.predictions(since, until, with_features=False, columns=("ts",))["ts"].to_numpy(float)


def health_history(log: PredictionLog, model: str, *, since: float | None = None, until: float | None = None,
                   buckets: int = 24, profile: ReferenceProfile | None = None,
                   reference_f1: float | None = None, p95_latency_ms: float | None = None,
                   max_error_rate: float | None = None, top_k: int = TOP_FEATURES,
                   drift_rows: int | None = None) -> HealthHistory:
    """The model's health in [since, until) cut into ``buckets`` equal buckets (see the module docstring).

    ``profile``: the champion's reference profile (no drift panel without one); ``reference_f1``,
    ``p95_latency_ms``, ``max_error_rate``: drawn as guide lines; ``drift_rows``: score each bucket's drift on
    its last this-many rows only (None: on a sample of all of them)."""
    since, until = resolve_window(since, until, buckets)
    bucket_s = (until - since) / buckets
    light = log.predictions(since, until, with_features=False, columns=LIGHT_COLUMNS)
    labelled = log.labelled(since, until)
    before = log.predictions(max(since - bucket_s, 0.0), since, with_features=False, columns=("ts", "version", "role"))
    b = hs.bucket_index(light["ts"].to_numpy(float), since, bucket_s, buckets)
    charged = hs.charged_version(light) if len(light) else pd.Series([], dtype=str)
    versions = sorted(set(light["version"].astype(str)) | set(charged), key=_version_key)
    panels = [
        _performance_panel("realised", "Realised performance (labelled predictions)",
                           hs.realised(hs.bucket_index(labelled["ts"].to_numpy(float), since, bucket_s, buckets),
                                       labelled, buckets) if len(labelled) else {}, reference_f1,
                           "no labels have arrived for predictions in this window"),
        _performance_panel("estimated", "Estimated performance (label-free, CBPE)",
                           hs.estimated(b, light, buckets) if len(light) else {}, reference_f1,
                           "no predictions in this window"),
        _drift_panel(log, profile, since, bucket_s, np.bincount(b, minlength=buckets), top_k,
                     light["ts"].to_numpy(float), drift_rows),
        _version_panel("latency", "p95 latency", "ms", hs.latency_p95(b, charged, light["latency_ms"].to_numpy(float),
                                                                      buckets) if len(light) else {},
                       Guide(value=p95_latency_ms, label="p95 SLO") if p95_latency_ms else None),
        _version_panel("errors", "Error / fallback rate", "share of requests",
                       hs.error_rate(b, charged, hs.fallback_answered(light).to_numpy(), buckets) if len(light) else {},
                       Guide(value=max_error_rate, label="error SLO") if max_error_rate is not None else None),
        _version_panel("traffic", "Traffic", "requests / min",
                       hs.traffic(b, charged, buckets, bucket_s) if len(light) else {}, None),
    ]
    return HealthHistory(model=model, since=since, until=until, bucket_s=bucket_s,
                         starts=[since + i * bucket_s for i in range(buckets)], versions=versions, panels=panels,
                         markers=serving_markers(light, before), rows=len(light), labelled=len(labelled))


def _performance_panel(key: PanelKey, title: str, per_version: dict[str, dict[str, list[float | None]]],
                       reference_f1: float | None, empty: str) -> Panel:
    series = []
    for version in sorted(per_version, key=_version_key):
        series.append(Series(name=f"v{version} F1", version=version, values=per_version[version]["f1"]))
        series.append(Series(name=f"v{version} AUC", version=version, dashed=True,
                             values=per_version[version]["auc"]))
    guides = [Guide(value=reference_f1, label="champion test F1")] if reference_f1 is not None else []
    return Panel(key=key, title=title, unit="F1 (solid) · AUC (dashed)", series=series, guides=guides,
                 note="" if series else empty)


def _version_panel(key: PanelKey, title: str, unit: str, per_version: dict[str, list[float | None]],
                   guide: Guide | None) -> Panel:
    series = [Series(name=f"v{v}", version=v, values=per_version[v]) for v in sorted(per_version, key=_version_key)]
    return Panel(key=key, title=title, unit=unit, series=series, guides=[guide] if guide else [],
                 note="" if series else "no predictions in this window")


def _drift_panel(log: PredictionLog, profile: ReferenceProfile | None, since: float, bucket_s: float,
                 counts: np.ndarray, top_k: int, ts: np.ndarray, drift_rows: int | None) -> Panel:
    title, unit = "Drift of the top features vs the champion's reference", "score (1 = Evidently's threshold)"
    if profile is None or not profile.columns:
        return Panel(key="drift", title=title, unit=unit, note="no champion reference to compare with")
    per_bucket: list[dict[str, float | None]] = [{} for _ in counts]
    enough = [int(n) if n >= hs.min_drift_rows(profile) else 0 for n in counts]  # thin buckets: features not read
    for begin, first, last in feature_reads(ts, since, bucket_s, enough, drift_rows):
        frame = log.predictions(begin, since + last * bucket_s, columns=("ts",))
        index = hs.bucket_index(frame["ts"].to_numpy(float), since, bucket_s, len(counts))
        for i in range(first, last):
            if enough[i]:
                per_bucket[i] = hs.bucket_drift(profile, frame[index == i], seed=i)
        del frame  # one run's features at a time
    names = hs.top_features(per_bucket, top_k)
    series = [Series(name=name, values=[scores.get(name) for scores in per_bucket]) for name in names]
    return Panel(key="drift", title=title, unit=unit, series=series, guides=[Guide(value=1.0, label="threshold")],
                 note="" if series else f"fewer than {hs.min_drift_rows(profile):,} predictions in every bucket: too "
                                       "few for a drift score; chart fewer, longer buckets")


def feature_reads(ts: np.ndarray, since: float, bucket_s: float, enough: list[int], drift_rows: int | None
                  ) -> list[tuple[float, int, int]]:
    """The feature reads of the drift panel, (from, first bucket, last bucket): runs of buckets [first, last) with
    at most ``FEATURE_READ_ROWS`` rows together, from the first bucket's start; with ``drift_rows``, a bucket with
    more rows than that is a read of its own, from its ``drift_rows``-th last row (``ts``: the window's
    prediction times, oldest first) — each bucket's latest traffic, the part nearest to what the chart leads to."""
    capped = [n if drift_rows is None else min(n, drift_rows) for n in enough]
    runs: list[tuple[int, int]] = []
    for first, last in hs.chunks(capped, FEATURE_READ_ROWS):
        start = first
        for i in range(first, last):
            if capped[i] < enough[i]:  # read alone, from the last rows on
                runs += [(start, i)] if start < i else []
                runs.append((i, i + 1))
                start = i + 1
        runs += [(start, last)] if start < last else []
    reads = []
    for first, last in runs:
        if not any(enough[first:last]):
            continue
        begin = since + first * bucket_s
        if capped[first] < enough[first]:
            end = int(np.searchsorted(ts, since + last * bucket_s, side="left")) if last < len(enough) else len(ts)
            begin = float(ts[max(0, end - capped[first])])
        reads.append((begin, first, last))
    return reads


def serving_markers(light: pd.DataFrame, before: pd.DataFrame) -> list[Marker]:
    """A deploy marker where a version first answered as champion or canary in the window, unless it already
    did in the bucket before the window (it was live when the window began)."""
    if not len(light):
        return []
    earlier = set(zip(before["version"].astype(str), before["role"].astype(str), strict=True)) if len(before) else set()
    serving = light[light["role"].isin(SERVING_ROLES)]
    firsts = serving.groupby([serving["version"].astype(str), serving["role"].astype(str)])["ts"].min()
    markers = [Marker(at=float(ts), kind="deploy", label=f"v{version} serves as {role}")
               for (version, role), ts in firsts.items() if (version, role) not in earlier]
    return sorted(markers, key=lambda m: m.at)
