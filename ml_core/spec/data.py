"""A spec's training data: the file it names, or a data set shipped offline (``builtin:NAME``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ml_core.data.tables import load_table
from ml_core.data.validation import validate_frame
from ml_core.spec.errors import SpecError
from ml_core.spec.model_spec import ModelSpec

BUILTIN_PREFIX = "builtin:"


def retrain_reference(spec: ModelSpec) -> pd.DataFrame | None:
    """What a retrain keeps besides the window: the spec's whole training table when it names one (None: the
    pipeline falls back to the rows the champion trained on)."""
    return load_spec_data(spec) if spec.data else None


def load_spec_data(spec: ModelSpec, path: Path | None = None, *, quarantine: bool = False,
                   quarantine_dir: Path | None = None) -> pd.DataFrame:
    """The validated training table: ``path`` when given, else the spec's ``data``."""
    if path is not None:
        report = load_table(path, spec.schema, quarantine=quarantine, quarantine_dir=quarantine_dir)
        return report.clean
    if spec.data is None:
        raise SpecError(f"model '{spec.name}' names no training data (the spec's 'data' field); pass --data FILE "
                        "or set data: in the spec")
    if spec.data.startswith(BUILTIN_PREFIX):
        from ml_core.spec.builtin import load_builtin_data

        name = spec.data[len(BUILTIN_PREFIX):]
        try:
            raw = load_builtin_data(name)
        except KeyError as exc:
            raise SpecError(f"model '{spec.name}': data: no built-in data set '{name}' "
                            "(built-in: churn, credit)") from exc
        return validate_frame(raw, spec.schema, require_label=True, quarantine=quarantine).clean
    return load_table(Path(spec.data).expanduser(), spec.schema, quarantine=quarantine,
                      quarantine_dir=quarantine_dir).clean
