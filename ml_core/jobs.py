"""Train → evaluate → log to MLflow → register: the job behind `opsagent train` and the retrain pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import mlflow
import pandas as pd

from ml_core.baseline import train_baseline
from ml_core.data.schema import TableSchema
from ml_core.data.tables import Split, fingerprint, split_frame
from ml_core.epoch_log import EpochLogger
from ml_core.evaluation import classification_metrics
from ml_core.registry import Registry, VersionInfo
from ml_core.release import log_bundle
from ml_core.training import EpochCallback, TrainConfig, TrainResult, train_model


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


def train_and_register(registry: Registry, data: pd.DataFrame, config: TrainConfig, *, model_name: str,
                       schema: TableSchema, parent_version: str | None = None,
                       on_epoch: EpochCallback | None = None, run_name: str | None = None,
                       with_baseline: bool = True) -> TrainJobResult:
    """Split, train, evaluate on the held-out test set, log everything and register a new version.

    With ``with_baseline`` a gradient-boosting baseline is fitted on the same split and its test AUC/F1
    are logged beside the model's (``baseline_test_auc``, ``baseline_test_f1``) and put in ``extra``."""
    split = split_frame(data, schema, seed=config.seed)
    fp = fingerprint(data)
    with mlflow.start_run(experiment_id=registry.experiment_id(), run_name=run_name) as run:
        mlflow.log_params({**config.model_dump(), "model_name": model_name, "rows": len(data),
                           "train_rows": len(split.train), "data_fingerprint": fp,
                           "parent_version": parent_version or ""})
        mlflow.set_tags({"data_fingerprint": fp, "opsagent.kind": "train"})

        epoch_log = EpochLogger(registry.client, run.info.run_id)

        def log_epoch(epoch: int, total: int, row: dict[str, float]) -> None:
            epoch_log(epoch, total, row)
            if on_epoch:
                on_epoch(epoch, total, row)

        try:
            result = train_model(split, config, schema, on_epoch=log_epoch)
        finally:
            epoch_log.flush()
        y = schema.labels_to_int(split.test[schema.label]).to_numpy()
        metrics = classification_metrics(y, result.model.predict_proba(split.test), result.model.threshold)
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
        model_uri = log_bundle(result.model, split.test[schema.feature_names].head(2), reference=split.train)
        tags = {"data_fingerprint": fp, "training_run_id": run.info.run_id,
                "parent_version": parent_version or "", "test_auc": f"{metrics['auc']:.4f}",
                "test_f1": f"{metrics['f1']:.4f}"}
        version: VersionInfo = registry.register(model_name, model_uri, tags)
    return TrainJobResult(model_name, version.version, run.info.run_id, fp, metrics, result, split, parent_version,
                          extra)
