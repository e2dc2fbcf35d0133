"""Watch a deployed model: one monitoring check over a window of its prediction log.

This is what a scheduled tick runs. The reference is the training data saved with the champion's
bundle (what the model learned from) and the champion's own scores on it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml_core.data.churn import load_churn, split_frame
from ml_core.data.schema import CHURN_SCHEMA, TableSchema
from ml_core.model import ChurnModel
from ml_core.monitoring.check import MonitoringResult, MonitoringThresholds, run_check
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
    model: ChurnModel


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


def load_reference(registry: Registry, model_name: str, version: str | None = None,
                   schema: TableSchema = CHURN_SCHEMA) -> Reference:
    """The training rows stored with a version's bundle (bundles without them: the churn training split)."""
    if version is None:
        champion = registry.alias(model_name, CHAMPION)
        if champion is None:
            raise RegistryError(f"model '{model_name}' has no champion; train and deploy one first")
        version = champion.version
    bundle = registry.bundle_dir(model_name, version)
    model = ChurnModel.load(bundle)
    path = bundle / REFERENCE_FILE
    frame = pd.read_parquet(path) if path.exists() else split_frame(load_churn(), schema).train
    labels = schema.labels_to_int(frame[schema.label]).to_numpy()
    return Reference(version, frame, model.predict_proba(frame), labels, model)


def check_window(layout: HomeLayout, registry: Registry, model_name: str, *, since: float | None = None,
                 until: float | None = None, minutes: float = 60.0, thresholds: MonitoringThresholds | None = None,
                 reference: Reference | None = None, write_report: bool = True,
                 schema: TableSchema = CHURN_SCHEMA) -> WatchResult:
    """Run the monitoring check on predictions in [since, until) (default: the last ``minutes``)."""
    until = until if until is not None else time.time()
    since = since if since is not None else until - minutes * 60
    ref = reference or load_reference(registry, model_name, schema=schema)
    with PredictionLog(layout.predictions_db(model_name)) as log:
        window = log.predictions(since, until)
        labelled = log.labelled(since, until)
        rejections = log.rejections(since, until)
    reference_metrics = registry.version(model_name, ref.version).test_metrics
    result = run_check(ref.frame, ref.scores, window, model_threshold=ref.model.threshold,
                       reference_metrics=reference_metrics, labelled=labelled, rejections=rejections,
                       reference_labels=ref.labels, thresholds=thresholds)
    report = None
    features = [c for c in schema.feature_names if c in window.columns]
    if write_report and len(window) >= 30 and features:
        report = write_drift_report(ref.frame[features], window[features], layout.reports_dir)
    return WatchResult(model_name, ref.version, since, until, result, report)
