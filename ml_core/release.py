"""Register an in-memory model as a new registry version (hotfixes, fault-injection releases, tests).

``jobs.train_and_register`` trains and registers; this registers a model that already exists, logged
the same way (an MLflow run holding the pyfunc wrapper and the bundle), so ``Registry.load`` and
``mlflow models serve`` read it exactly like a trained version. An adopted model (``AdoptedModel``) is
re-registered as its own MLflow model folder with the new threshold and fault as tags.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from ml_core.adopted import AdoptedModel, RegistryModel
from ml_core.mlflow_model import ChurnPyfunc
from ml_core.model import TabularModel
from ml_core.registry import Registry, VersionInfo


def pip_requirements() -> list[str]:
    """The serving requirements of a churn bundle, pinned to what is installed here."""
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "torch", "pandas", "numpy")]


def log_bundle(model: TabularModel, input_example: pd.DataFrame | None = None,
               reference: pd.DataFrame | None = None, extra_files: dict[str, str] | None = None) -> str:
    """Log ``model`` (and its monitoring reference rows, and ``extra_files``: name -> text, e.g. its feature
    importance) as a pyfunc in the active run; returns its URI."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "bundle"
        model.save(bundle)
        if reference is not None:
            reference.to_parquet(bundle / "reference.parquet", index=False)
        for filename, text in (extra_files or {}).items():
            (bundle / filename).write_text(text)
        # Explicit requirements: MLflow's inference re-imports the model in a subprocess (~10 s).
        info = mlflow.pyfunc.log_model(name="model", python_model=ChurnPyfunc(), artifacts={"bundle": str(bundle)},
                                       input_example=input_example, pip_requirements=pip_requirements())
    return info.model_uri


def register_model_bundle(registry: Registry, model_name: str, model: RegistryModel,
                          tags: dict[str, str] | None = None, run_name: str | None = None,
                          input_example: pd.DataFrame | None = None) -> VersionInfo:
    """Log ``model`` in a new MLflow run and register it as the next version of ``model_name``.

    ``tags`` become registry version tags (e.g. ``parent_version``); a faulty model (``model.fault``)
    is tagged ``fault=<latency_ms>ms/<error_rate>`` so nobody mistakes it for a real release.
    """
    # MLflow's fluent API is process-global; bind it to this registry's store before logging.
    mlflow.set_tracking_uri(registry.tracking_uri)
    mlflow.set_registry_uri(registry.tracking_uri)
    all_tags = dict(tags or {})
    if model.fault is not None:
        all_tags.setdefault("fault", f"{model.fault.latency_ms:g}ms/{model.fault.error_rate:g}")
    if isinstance(model, AdoptedModel):
        from ml_core.adoption import reregister

        return reregister(registry, model_name, model, all_tags, run_name)
    with mlflow.start_run(experiment_id=registry.experiment_id(), run_name=run_name) as run:
        mlflow.set_tags({"opsagent.kind": "release", **all_tags})
        model_uri = log_bundle(model, input_example)
        all_tags.setdefault("training_run_id", str(model.meta.get("run_id", run.info.run_id)))
        return registry.register(model_name, model_uri, all_tags)
