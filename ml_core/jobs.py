"""Train → evaluate → log to MLflow → register: the job behind `opsagent train` and the retrain pipeline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import mlflow
import numpy as np
import pandas as pd
import torch

from ml_core.baseline import train_baseline
from ml_core.data.schema import TableSchema
from ml_core.data.tables import Split, fingerprint, split_frame
from ml_core.epoch_log import EpochLogger
from ml_core.evaluation import classification_metrics
from ml_core.failpoints import failpoint
from ml_core.importance import IMPORTANCE_FILE, FeatureImportance, ImportanceError, permutation_importance
from ml_core.model import TabularModel
from ml_core.registry import Registry, VersionInfo
from ml_core.release import log_bundle
from ml_core.training import EpochCallback, PlanFactory, TrainConfig, TrainResult, cpu_threads, train_model


@dataclass
class TrainJobResult:
    model_name: str
    version: str
    run_id: str
    data_fingerprint: str
    test_metrics: dict[str, float]
    train: TrainResult
    split: Split
    parent_version: str | None = None
    extra: dict[str, float] = field(default_factory=dict)
    importance: FeatureImportance | None = None  # None when the test split could not be scored (one class)


def measure_importance(model: TabularModel, test: pd.DataFrame, y: np.ndarray, schema: TableSchema,
                       seed: int) -> FeatureImportance | None:
    """Permutation importance on the held-out test rows, logged to the active run (``importance.json`` and
    ``importance_seconds``). Held-out rows, not training rows: on rows it has fitted, a model that memorised
    a column looks more reliant on it than it is on new traffic."""
    started = time.perf_counter()
    try:
        importance = permutation_importance(model, test, y, schema, seed=seed)
    except ImportanceError as exc:  # e.g. a tiny table whose test split has one class: measured later instead
        mlflow.set_tag("importance", f"not measured: {exc}"[:500])
        return None
    importance = importance.model_copy(update={"rows_from": "test split"})
    mlflow.log_dict(importance.model_dump(mode="json"), IMPORTANCE_FILE)
    mlflow.log_metric("importance_seconds", time.perf_counter() - started)
    return importance


def train_and_register(registry: Registry, data: pd.DataFrame, config: TrainConfig, *, model_name: str,
                       schema: TableSchema, parent_version: str | None = None,
                       on_epoch: EpochCallback | None = None, run_name: str | None = None,
                       with_baseline: bool = True, tags: dict[str, str] | None = None,
                       plan: PlanFactory | None = None) -> TrainJobResult:
    """Split, train, evaluate on the held-out test set, log everything and register a new version.

    ``tags`` go on the MLflow run and the registered version (a retrain tags the proposal it was made for).
    ``plan``: how training walks the rows (``train_model``); rank 0 of a DDP job passes its rank's plan.

    With ``with_baseline`` a gradient-boosting baseline is fitted on the same split and its test AUC/F1
    are logged beside the model's (``baseline_test_auc``, ``baseline_test_f1``) and put in ``extra``."""
    split = split_frame(data, schema, seed=config.seed)
    fp = fingerprint(data)
    with mlflow.start_run(experiment_id=registry.experiment_id(), run_name=run_name) as run:
        mlflow.log_params({**config.model_dump(), "model_name": model_name, "rows": len(data),
                           "train_rows": len(split.train), "data_fingerprint": fp,
                           "parent_version": parent_version or ""})
        mlflow.set_tags({"data_fingerprint": fp, "opsagent.kind": "train", **(tags or {})})

        epoch_log = EpochLogger(registry.client, run.info.run_id)

        def log_epoch(epoch: int, total: int, row: dict[str, float]) -> None:
            epoch_log(epoch, total, row)
            if on_epoch:
                on_epoch(epoch, total, row)

        try:
            result = train_model(split, config, schema, on_epoch=log_epoch, plan=plan)
        finally:
            epoch_log.flush()
        failpoint("after_training")
        y = schema.labels_to_int(split.test[schema.label]).to_numpy()
        # Scoring the test split and its permutations (columns x repeats tables): the threads training used, for
        # the same reason (small batches; and other processes on the machine — a serve, scoring services).
        with cpu_threads(torch.device("cpu"), config.cpu_threads):
            metrics = classification_metrics(y, result.model.predict_proba(split.test), result.model.threshold)
            importance = measure_importance(result.model, split.test, y, schema, config.seed)
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        mlflow.log_metrics({"best_epoch": result.best_epoch, "train_seconds": result.seconds,
                            "samples_per_second": result.samples_per_second, "threshold": result.model.threshold})
        mlflow.set_tag("device", result.device)
        extra: dict[str, float] = {}
        if with_baseline:
            base = train_baseline(split, schema, seed=config.seed, exclude=config.exclude_columns)
            extra = {"baseline_test_auc": base.test_metrics["auc"], "baseline_test_f1": base.test_metrics["f1"]}
            mlflow.log_metrics(extra)
        result.model.meta.update({"data_fingerprint": fp, "run_id": run.info.run_id})
        # The training rows travel with the model: monitoring compares traffic against them.
        extra_files = {IMPORTANCE_FILE: importance.model_dump_json(indent=2)} if importance else None
        model_uri = log_bundle(result.model, split.test[schema.feature_names].head(2), reference=split.train,
                               extra_files=extra_files)
        tags = {"data_fingerprint": fp, "training_run_id": run.info.run_id,
                "parent_version": parent_version or "", "test_auc": f"{metrics['auc']:.4f}",
                "test_f1": f"{metrics['f1']:.4f}", **(tags or {})}
        version: VersionInfo = registry.register(model_name, model_uri, tags)
    return TrainJobResult(model_name, version.version, run.info.run_id, fp, metrics, result, split, parent_version,
                          extra, importance and importance.model_copy(update={"version": version.version}))


def end_orphan_runs(registry: Registry, tag: str, value: str) -> list[str]:
    """Mark KILLED the MLflow runs tagged ``tag=value`` still RUNNING: a process that died while training left
    them (a resumed remediation calls this before training again). Returns their run ids."""
    runs = registry.client.search_runs([registry.experiment_id()],
                                       filter_string=f"tags.`{tag}` = '{value}' and attributes.status = 'RUNNING'")
    for run in runs:
        registry.client.set_terminated(run.info.run_id, status="KILLED")
    return [r.info.run_id for r in runs]
