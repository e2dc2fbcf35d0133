"""Feature importance stored with a registry version: ``importance.json`` in the version's bundle.

``train_and_register`` measures it on the version's held-out test split and ships it inside the bundle (so
every copy of the version has it, on any machine). A version without one — adopted, trained before this
existed, or a release derived from another (a threshold hotfix, a fault-injection release: tag
``parent_version``, no training rows of its own) — gets it here: from the version it was derived from when
that one has it, else measured on the training rows saved with it (its reference) and cached in its bundle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from ml_core.adopted import RegistryModel
from ml_core.atomic_file import write_text_atomic
from ml_core.data.schema import TableSchema
from ml_core.importance import IMPORTANCE_FILE, FeatureImportance, permutation_importance
from ml_core.registry import Registry, RegistryError
from ml_core.watch import REFERENCE_FILE, Reference


def save_importance(directory: Path, importance: FeatureImportance) -> Path:
    """Write ``importance.json`` into ``directory`` atomically (a scheduled tick may read it meanwhile)."""
    return write_text_atomic(directory / IMPORTANCE_FILE, importance.model_dump_json(indent=2))


def read_importance(directory: Path, version: str | None = None) -> FeatureImportance | None:
    """The importance saved in ``directory``, or None when there is none or it is unreadable (then it is
    measured again and overwritten). ``version`` fills in the version for a file written before registration."""
    path = directory / IMPORTANCE_FILE
    if not path.exists():
        return None
    try:
        found = FeatureImportance.model_validate_json(path.read_text())
    except (ValidationError, ValueError, OSError):
        return None
    return found if found.version or version is None else found.model_copy(update={"version": version})


def _stored_or_reference(registry: Registry, name: str, version: str) -> tuple[FeatureImportance | None,
                                                                               Path | None]:
    """Walk from ``version`` up its ``parent_version`` chain, as ``watch.load_reference`` does: the first stored
    importance wins; the first version holding training rows ends the walk (a version trained with its own
    rows has its own weights, so a parent's importance would describe another model)."""
    seen: set[str] = set()
    current: str | None = version
    while current and current not in seen:
        seen.add(current)
        directory = registry.bundle_dir(name, current)
        stored = read_importance(directory, current)
        if stored is not None:
            return stored, None
        if (directory / REFERENCE_FILE).exists():
            return None, directory / REFERENCE_FILE
        current = registry.version(name, current).tags.get("parent_version") or None
    return None, None


def _without_fault(model: RegistryModel) -> RegistryModel:
    """The same weights without an injected fault: importance is about what the model reads, and a
    fault-injection release would otherwise fail or stall while being measured."""
    return dataclasses.replace(model, fault=None) if model.fault is not None else model


def _rows(name: str, version: str, schema: TableSchema, reference: Reference | None, reference_path: Path | None,
          fallback: Callable[[], pd.DataFrame] | None) -> tuple[pd.DataFrame, np.ndarray, str]:
    """The labelled rows to measure on, their 0/1 labels, and where they came from."""
    if reference is not None:
        return reference.frame, reference.labels, "reference"
    if reference_path is not None:
        frame, source = pd.read_parquet(reference_path), "reference"
    elif fallback is not None:
        frame, source = fallback(), "spec data (training split)"
    else:
        raise RegistryError(f"{name} v{version} has no feature importance and no training rows saved with it to "
                            "measure one on; retrain it with opsagent, or adopt it again with --data")
    if schema.label not in frame.columns:
        raise RegistryError(f"the rows to measure {name} v{version}'s importance on have no label column "
                            f"'{schema.label}'; save training rows with their labels")
    return frame, schema.labels_to_int(frame[schema.label]).to_numpy(), source


def load_importance(registry: Registry, name: str, version: str, *, schema: TableSchema,
                    reference: Reference | None = None,
                    fallback: Callable[[], pd.DataFrame] | None = None) -> FeatureImportance:
    """The feature importance of ``name`` v``version``: stored with it or with the version it derives from,
    else measured now — on ``reference`` if given, else on the training rows saved with the version or its
    parent, else on ``fallback()`` (e.g. the spec's training split) — and cached in its bundle.

    Raises RegistryError when there is no stored importance and no rows to measure on, and ImportanceError
    when the rows cannot be scored (e.g. a single class)."""
    version = str(version)
    stored, reference_path = _stored_or_reference(registry, name, version)
    if stored is not None:
        return stored
    frame, labels, source = _rows(name, version, schema, reference, reference_path, fallback)
    model = _without_fault(registry.load(name, version))
    measured = permutation_importance(model, frame, labels, schema)
    measured = measured.model_copy(update={"rows_from": source, "version": version})
    save_importance(registry.bundle_dir(name, version), measured)
    return measured
