"""Adopt an existing MLflow model: copy it into opsagent's store, check it scores probabilities, register it.

The model may live in another tracking store (``tracking_uri``); it is downloaded from there, checked on the
spec's columns, logged into opsagent's experiment as a run of its own and registered, so opsagent's home
never depends on the other store again.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from ml_core.adopted import (
    ADOPTED,
    FAULT_TAG,
    KIND_TAG,
    MLMODEL_FILE,
    SOURCE_STORE_TAG,
    SOURCE_TAG,
    THRESHOLD_TAG,
    AdoptedModel,
    AdoptedSettings,
    AdoptError,
    check_probabilities,
    conform,
    numeric_casts,
    signature_columns,
)
from ml_core.data.schema import TableSchema
from ml_core.evaluation import best_f1_threshold, classification_metrics
from ml_core.registry import Registry, VersionInfo

REFERENCE_FILE = "reference.parquet"  # beside the model, where ml_core.watch and the pipeline look
CHECK_ROWS = 200  # rows of --data the model must score before it is adopted
URI_FORMS = ("runs:/RUN_ID/PATH, models:/NAME/VERSION, models:/NAME@ALIAS, models:/MODEL_ID or a local MLflow "
             "model folder")


@dataclass(frozen=True)
class AdoptResult:
    version: VersionInfo
    threshold: float
    threshold_tuned: bool  # F1-tuned on the data, else the default 0.5
    metrics: dict[str, float]  # on the data given (empty without data)
    flavors: list[str]
    input_columns: list[str]


@contextmanager
def mlflow_bound(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's process-global tracking and registry URIs at ``tracking_uri``, and restore them after.

    Needed because ``models:/`` URIs resolve through the global store even when ``download_artifacts`` is
    given a ``tracking_uri``."""
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


def _short(exc: BaseException) -> str:
    """The gist of a library error: MLflow's schema errors quote the whole frame before the "Error: " part."""
    text = str(exc).strip()
    text = text.rsplit("Error: ", 1)[-1] if "Error: " in text else (text.splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}"[:400]


def download_model(model_uri: str, tracking_uri: str, into: Path) -> Path:
    """Copy the MLflow model at ``model_uri`` (resolved in ``tracking_uri``) into ``into``/model."""
    target = into / "model"
    try:
        with mlflow_bound(tracking_uri):
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(into / "dl"),
                                                             tracking_uri=tracking_uri, registry_uri=tracking_uri))
    except Exception as exc:  # MlflowException, OSError, bad URI schemes: all mean "not there"
        raise AdoptError(f"cannot read model '{model_uri}' from the tracking store {tracking_uri}: {_short(exc)}. "
                         f"Give --model-uri as {URI_FORMS}, and --tracking-uri for the store it is in") from exc
    if not (local / MLMODEL_FILE).is_file():
        raise AdoptError(f"'{model_uri}' is not an MLflow model (no {MLMODEL_FILE} file in it); point --model-uri "
                         "at the folder MLflow logged the model to")
    shutil.copytree(local, target)
    (target / "registered_model_meta").unlink(missing_ok=True)  # the source registry's name and version
    return target


def load_pyfunc(directory: Path, model_uri: str) -> Any:
    try:
        return mlflow.pyfunc.load_model(str(directory))
    except Exception as exc:
        raise AdoptError(f"'{model_uri}' could not be loaded as an MLflow pyfunc model: {_short(exc)}. Is its "
                         "flavour's library (scikit-learn, xgboost, lightgbm, torch...) installed here?") from exc


def input_columns(pyfunc: Any, schema: TableSchema) -> list[str]:
    """The columns the model takes: its signature's, which the spec must have; else the spec's features."""
    wanted = signature_columns(pyfunc)
    if wanted is None:
        return list(schema.feature_names)
    missing = [c for c in wanted if c not in schema.feature_names]
    if missing:
        raise AdoptError(f"the model needs column(s) {', '.join(missing)} that the spec's features do not have "
                         f"(features: {', '.join(schema.feature_names)}); adopt it under a spec with those columns")
    return wanted


def check_frame(schema: TableSchema, data: pd.DataFrame | None) -> pd.DataFrame:
    """Rows to try the model on: the data's first rows, else two plausible records built from the spec."""
    if data is not None and len(data):
        return data[schema.feature_names].head(CHECK_ROWS).reset_index(drop=True)
    from ml_core.serving.smoke import smoke_record

    return pd.DataFrame([smoke_record(schema)] * 2, columns=schema.feature_names)


def try_model(model: AdoptedModel, frame: pd.DataFrame) -> None:
    """The model scores ``frame`` with probabilities, or AdoptError says what it did instead."""
    try:
        raw = model.pyfunc.predict(conform(frame[model.settings.input_columns], model.casts))
    except Exception as exc:
        raise AdoptError(f"the model failed to score rows of the spec's columns: {_short(exc)}") from exc
    check_probabilities(raw, model.settings.output_column, len(frame))


def _threshold_on(model: AdoptedModel, data: pd.DataFrame | None,
                  schema: TableSchema) -> tuple[float, bool, dict[str, float]]:
    if data is None or not len(data):
        return 0.5, False, {}
    y = schema.labels_to_int(data[schema.label]).to_numpy()
    p = model.predict_proba(data)
    threshold = best_f1_threshold(y, p)
    return threshold, True, classification_metrics(y, p, threshold)


def adopt_version(registry: Registry, name: str, model_uri: str, *, schema: TableSchema,
                  tracking_uri: str | None = None, data: pd.DataFrame | None = None,
                  output_column: str | None = None) -> AdoptResult:
    """Register the MLflow model at ``model_uri`` as the next version of ``name`` in ``registry``.

    ``data`` (validated against ``schema``, label included) is saved with the version as its monitoring
    reference and tunes the threshold for F1; without it the threshold is 0.5. Raises AdoptError.
    """
    source_store = tracking_uri or registry.tracking_uri
    with tempfile.TemporaryDirectory(dir=registry.layout.home) as tmp:
        directory = download_model(model_uri, source_store, Path(tmp))
        pyfunc = load_pyfunc(directory, model_uri)
        settings = AdoptedSettings(input_columns(pyfunc, schema), output_column, model_uri)
        model = AdoptedModel(pyfunc, directory, settings, casts=numeric_casts(pyfunc))
        try_model(model, check_frame(schema, data))
        threshold, tuned, metrics = _threshold_on(model, data, schema)
        settings.save(directory)
        if data is not None and len(data):
            data.to_parquet(directory / REFERENCE_FILE, index=False)
        tags = {KIND_TAG: ADOPTED, SOURCE_TAG: model_uri, THRESHOLD_TAG: f"{threshold:.4f}",
                **({SOURCE_STORE_TAG: tracking_uri} if tracking_uri else {}),
                **{f"test_{k}": f"{metrics[k]:.4f}" for k in ("f1", "auc", "precision", "recall") if k in metrics},
                **({"metrics_on": "the data given at adoption"} if metrics else {})}
        info = log_and_register(registry, name, directory, tags, run_name=f"adopt-{name}")
    # Adopting is the owner's release decision: their pipeline was the gate.
    registry.mark_ready(name, info.version)
    return AdoptResult(registry.version(name, info.version), threshold, tuned, metrics,
                       sorted(pyfunc.metadata.flavors), settings.input_columns)


def log_and_register(registry: Registry, name: str, directory: Path, tags: dict[str, str],
                     run_name: str) -> VersionInfo:
    """Log the model folder ``directory`` as artifact ``model`` of a new run in opsagent's experiment and
    register it; ``tags`` go on the run and the version."""
    with mlflow_bound(registry.tracking_uri), mlflow.start_run(experiment_id=registry.experiment_id(),
                                                               run_name=run_name) as run:
        mlflow.set_tags(tags)
        mlflow.log_artifacts(str(directory), artifact_path="model")
        return registry.register(name, f"runs:/{run.info.run_id}/model",
                                 {**tags, "training_run_id": tags.get("training_run_id", run.info.run_id)})


def reregister(registry: Registry, name: str, model: AdoptedModel, tags: dict[str, str],
               run_name: str | None) -> VersionInfo:
    """A new version holding the same adopted model with ``model.threshold`` and ``model.fault`` (a threshold
    hotfix, a fault-injection release). Its monitoring reference stays with the parent (``parent_version``)."""
    all_tags = {KIND_TAG: ADOPTED, SOURCE_TAG: model.settings.source_uri, **tags,
                THRESHOLD_TAG: f"{model.threshold:.4f}"}
    if model.fault is not None:
        all_tags[FAULT_TAG] = json.dumps(model.fault.__dict__)
    with tempfile.TemporaryDirectory(dir=registry.layout.home) as tmp:
        copy = Path(tmp) / "model"
        shutil.copytree(model.directory, copy, ignore=shutil.ignore_patterns(REFERENCE_FILE))
        return log_and_register(registry, name, copy, all_tags, run_name or f"release-{name}")
