"""Watch a deployed model: one monitoring check over a window of its prediction log.

This is what a scheduled tick runs. The reference is the training data saved with the champion's
bundle (what the model learned from) and the champion's own scores on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from ml_core.adopted import RegistryModel
from ml_core.data.schema import TableSchema
from ml_core.monitoring.check import MonitoringResult, MonitoringThresholds, run_check
from ml_core.monitoring.columns import checked_columns, schema_kinds
from ml_core.monitoring.drift_screen import ReferenceProfile, build_profile, build_score_profile
from ml_core.monitoring.evidently_report import EvidentlyDriftReport, write_drift_report
from ml_core.monitoring.plausibility import PlausibilityProfile, build_plausibility_profile
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.registry import CHAMPION, Registry, RegistryError
from ml_core.version_cache import VersionCache

REFERENCE_FILE = "reference.parquet"
# The log columns the check reads (and features): not the per-row ids, 120 MB of Python strings on 1M rows.
CHECK_COLUMNS = ("ts", "version", "role", "fallback_reason", "intended_version", "score", "label", "latency_ms")
# Champions kept loaded (model, reference rows, scores, profiles): a few MB each for tables of a few thousand
# rows. 32 covers the models one machine watches on a five-minute schedule without reloading each tick, and
# bounds what a long-running ``opsagent serve`` holds however many versions it sees over weeks.
REFERENCE_CACHE_SIZE = 32
_references: VersionCache[Reference] = VersionCache(REFERENCE_CACHE_SIZE)
# When the scheduled triage writes the Evidently report: "findings" (a window the fast screen found something
# in) or True (every window, the behaviour before Step 8).
ReportWhen = bool | Literal["findings"]


@dataclass
class Reference:
    version: str
    frame: pd.DataFrame
    scores: np.ndarray
    labels: np.ndarray
    model: RegistryModel
    profiles: dict[str, tuple[ReferenceProfile, ReferenceProfile, PlausibilityProfile]] = field(
        default_factory=dict, repr=False)  # per schema, made once (``monitoring_profiles``)


def monitoring_profiles(ref: Reference, schema: TableSchema
                        ) -> tuple[ReferenceProfile, ReferenceProfile, PlausibilityProfile]:
    """The reference's drift, score and plausibility profiles for ``schema``, built on first use and kept with
    the reference (so a cached champion pays for them once: 0.3-0.5 s of plausibility pairs on churn)."""
    key = repr(schema)
    if key not in ref.profiles:
        features, kinds = checked_columns(ref.frame, ref.frame, schema, None, None)
        numeric = [c for c in features if kinds.get(c) == "numerical"]
        ref.profiles[key] = (build_profile(ref.frame, features, kinds), build_score_profile(ref.scores),
                             build_plausibility_profile(ref.frame, numeric))
    return ref.profiles[key]


def clear_caches() -> None:
    """Forget every cached champion reference (the next check loads and scores it again)."""
    _references.clear()


@dataclass
class WatchResult:
    model_name: str
    version: str
    since: float
    until: float
    result: MonitoringResult
    report: EvidentlyDriftReport | None
    reference: Reference | None = field(default=None, repr=False)  # what the window was checked against

    @property
    def report_dir(self) -> Path | None:
        return self.report.directory if self.report else None


def load_reference(registry: Registry, model_name: str, schema: TableSchema, version: str | None = None,
                   fallback: Callable[[], pd.DataFrame] | None = None) -> Reference:
    """The training rows stored with a version's bundle, or with the version it was derived from (a threshold
    hotfix, a fault-injection release: tag ``parent_version``); without either, ``fallback()`` (the spec's
    training split)."""
    if version is None:
        champion = registry.alias(model_name, CHAMPION)
        if champion is None:
            raise RegistryError(f"model '{model_name}' has no champion; train and deploy one first")
        version = champion.version
    path = _reference_path(registry, model_name, version)
    if path is not None:
        # A version's bundle is written once: its rows, the model and its scores on them are a pure function of
        # (home, model, version), cached. The file's mtime is in the key too, so a bundle rewritten by hand is
        # read afresh. The spec's table (the fallback) can change under a version, so that path is never cached.
        key = (str(registry.layout.home), model_name, version, str(path), path.stat().st_mtime_ns,
               repr(schema))
        return _references.get(key, lambda: _scored_reference(registry, model_name, version, schema,
                                                              pd.read_parquet(path)))
    if fallback is not None:
        return _scored_reference(registry, model_name, version, schema, fallback())
    raise RegistryError(f"{model_name} v{version} has no training data saved with it, so there is nothing "
                        "to compare traffic with; retrain it with opsagent, or add the spec's data")


def _scored_reference(registry: Registry, model_name: str, version: str, schema: TableSchema,
                      frame: pd.DataFrame) -> Reference:
    model = registry.load(model_name, version)  # an opsagent-trained or an adopted version
    labels = schema.labels_to_int(frame[schema.label]).to_numpy()
    return Reference(version, frame, model.predict_proba(frame), labels, model)


def _reference_path(registry: Registry, model_name: str, version: str) -> Path | None:
    seen: set[str] = set()
    current: str | None = version
    while current and current not in seen:
        seen.add(current)
        path = registry.bundle_dir(model_name, current) / REFERENCE_FILE
        if path.exists():
            return path
        current = registry.version(model_name, current).tags.get("parent_version") or None
    return None


def check_window(layout: HomeLayout, registry: Registry, model_name: str, *, since: float | None = None,
                 until: float | None = None, minutes: float = 60.0, thresholds: MonitoringThresholds | None = None,
                 reference: Reference | None = None, write_report: ReportWhen = True,
                 schema: TableSchema) -> WatchResult:
    """Run the monitoring check on predictions in [since, until) (default: the last ``minutes``).

    ``write_report``: True writes the Evidently report (a person asking), False never, ``"findings"`` only
    when the check found something (the scheduled triage: see ``report_wanted``)."""
    until = until if until is not None else time.time()
    since = since if since is not None else until - minutes * 60
    ref = reference or load_reference(registry, model_name, schema)
    with PredictionLog(layout.predictions_store(model_name)) as log:
        window = log.predictions(since, until, columns=CHECK_COLUMNS)
        labelled = log.labelled(since, until, with_ids=False)
        rejections = log.rejections(since, until)
    reference_metrics = registry.version(model_name, ref.version).test_metrics
    profile, score_profile, plausibility = monitoring_profiles(ref, schema)
    result = run_check(ref.frame, ref.scores, window, model_threshold=ref.model.threshold,
                       reference_metrics=reference_metrics, labelled=labelled, rejections=rejections,
                       reference_labels=ref.labels, thresholds=thresholds, schema=schema, profile=profile,
                       score_profile=score_profile, plausibility=plausibility)
    report = window_report(layout, ref, window, schema) if report_wanted(write_report, result) else None
    return WatchResult(model_name, ref.version, since, until, result, report, ref)


def report_wanted(write_report: ReportWhen, result: MonitoringResult) -> bool:
    """Whether to write the Evidently report for a checked window.

    ``"findings"``: any finding, of any kind, not only drift. A finding is what can open an incident, and an
    incident's post-mortem links the report as its evidence of what the data did (the quality, plausibility,
    performance and SLO cases too: "did the inputs change?" is the first question each of them raises). A
    window with no finding opens nothing, so nobody would read its report: the fast screen's verdicts (equal to
    Evidently's) are the whole answer, at a tenth of the cost. "Not enough data" notes are not findings."""
    if write_report == "findings":
        return bool(result.findings)
    return bool(write_report)


def window_report(layout: HomeLayout, ref: Reference, window: pd.DataFrame,
                  schema: TableSchema) -> EvidentlyDriftReport | None:
    """The Evidently report of ``window`` against the reference (None for a window too small or without features)."""
    features = [c for c in schema.feature_names if c in window.columns]
    if len(window) < 30 or not any(window[c].notna().any() for c in features):
        return None
    # The schema's kinds, as the screen uses: left to infer, Evidently types a string column with more distinct
    # values than half the window's rows as text (churn's 51 states on a 50-row window).
    return write_drift_report(ref.frame[features], window[features], layout.reports_dir, kinds=schema_kinds(schema))


def write_window_report(layout: HomeLayout, ref: Reference, model_name: str, since: float, until: float,
                        schema: TableSchema) -> EvidentlyDriftReport | None:
    """Read the window again and write its report: for a triage that found an incident the check had no finding
    for (a release judged on its own decisions, a slice), whose post-mortem will link the report."""
    with PredictionLog(layout.predictions_store(model_name)) as log:
        window = log.predictions(since, until)
    return window_report(layout, ref, window, schema)
