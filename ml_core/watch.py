"""Watch a deployed model: one monitoring check over a window of its prediction log.

This is what a scheduled tick runs. The reference is the training data saved with the champion's
bundle (what the model learned from) and the champion's own scores on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml_core.adopted import RegistryModel
from ml_core.data.schema import TableSchema
from ml_core.monitoring.check import MonitoringResult, MonitoringThresholds, run_check
from ml_core.monitoring.columns import schema_kinds
from ml_core.monitoring.evidently_report import EvidentlyDriftReport, write_drift_report
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.registry import CHAMPION, Registry, RegistryError

REFERENCE_FILE = "reference.parquet"


@dataclass
class Reference:
    version: str
    frame: pd.DataFrame
    scores: np.ndarray
    labels: np.ndarray
    model: RegistryModel


@dataclass
class WatchResult:
    model_name: str
    version: str
    since: float
    until: float
    result: MonitoringResult
    report: EvidentlyDriftReport | None

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
    model = registry.load(model_name, version)  # an opsagent-trained or an adopted version
    path = _reference_path(registry, model_name, version)
    if path is not None:
        frame = pd.read_parquet(path)
    elif fallback is not None:
        frame = fallback()
    else:
        raise RegistryError(f"{model_name} v{version} has no training data saved with it, so there is nothing "
                            "to compare traffic with; retrain it with opsagent, or add the spec's data")
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
                 reference: Reference | None = None, write_report: bool = True,
                 schema: TableSchema) -> WatchResult:
    """Run the monitoring check on predictions in [since, until) (default: the last ``minutes``)."""
    until = until if until is not None else time.time()
    since = since if since is not None else until - minutes * 60
    ref = reference or load_reference(registry, model_name, schema)
    with PredictionLog(layout.predictions_db(model_name)) as log:
        window = log.predictions(since, until)
        labelled = log.labelled(since, until)
        rejections = log.rejections(since, until)
    reference_metrics = registry.version(model_name, ref.version).test_metrics
    result = run_check(ref.frame, ref.scores, window, model_threshold=ref.model.threshold,
                       reference_metrics=reference_metrics, labelled=labelled, rejections=rejections,
                       reference_labels=ref.labels, thresholds=thresholds, schema=schema)
    report = None
    features = [c for c in schema.feature_names if c in window.columns]
    if write_report and len(window) >= 30 and any(window[c].notna().any() for c in features):
        # The schema's kinds, as the screen uses: left to infer, Evidently types a string column with more
        # distinct values than half the window's rows as text (churn's 51 states on a 50-row window).
        report = write_drift_report(ref.frame[features], window[features], layout.reports_dir,
                                    kinds=schema_kinds(schema))
    return WatchResult(model_name, ref.version, since, until, result, report)
