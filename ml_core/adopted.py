"""A model adopted from MLflow: any pyfunc flavour whose output is the positive-class probability.

A registry version is adopted when its tag ``opsagent.kind`` is ``adopted``. Its artifact is the user's own
MLflow model directory, copied into opsagent's store unchanged (so any MLflow tool still loads it as its
flavour), plus ``opsagent_adopted.json`` (how to read its output, which columns it takes) and, when data was
given, ``reference.parquet``. The decision threshold and an injected fault are version tags, so a threshold
hotfix or a fault-injection release re-registers the same files with other tags.

``Registry.load`` returns an ``AdoptedModel`` for such versions; it has the interface the scoring service,
evaluation, the gate and monitoring use from ``TabularModel``: ``predict_proba``, ``predict``, ``threshold``,
``fault`` and ``meta``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from ml_core.release_fault import Fault, apply_fault

if TYPE_CHECKING:
    from ml_core.model import TabularModel

KIND_TAG = "opsagent.kind"
ADOPTED = "adopted"
SOURCE_TAG = "source_uri"
SOURCE_STORE_TAG = "source_tracking_uri"
THRESHOLD_TAG = "threshold"
FAULT_TAG = "opsagent.fault"
SETTINGS_FILE = "opsagent_adopted.json"
MLMODEL_FILE = "MLmodel"
DEFAULT_OUTPUT_COLUMN = "probability"


class AdoptError(ValueError):
    """The model cannot be adopted as it is; the message says what is wrong and what to do."""


def is_adopted(tags: dict[str, str]) -> bool:
    return tags.get(KIND_TAG) == ADOPTED


def output_values(output: Any, output_column: str | None = None) -> np.ndarray:
    """The one value per row in a pyfunc model's output that should be the positive-class probability.

    A DataFrame gives its column ``output_column`` (default: ``probability`` if present, else the last column);
    a two-column array gives column 1 (``predict_proba``'s layout); a 1-D array is the probability itself.
    Raises AdoptError when the output has another shape.
    """
    if isinstance(output, pd.DataFrame):
        if output_column is not None and output_column not in output.columns:
            raise AdoptError(f"the model's output has no column '{output_column}' (its columns: "
                             f"{', '.join(map(str, output.columns))}); pass --output-column with one of them")
        column = output_column or (DEFAULT_OUTPUT_COLUMN if DEFAULT_OUTPUT_COLUMN in output.columns
                                   else output.columns[-1])
        values = output[column].to_numpy()
    elif isinstance(output, pd.Series):
        values = output.to_numpy()
    else:
        values = np.asarray(output)
        if values.ndim == 2 and values.shape[1] == 2:
            values = values[:, 1]
        elif values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        elif values.ndim != 1:
            raise AdoptError(f"the model returned an array of shape {values.shape}; opsagent needs one probability "
                             "per row: a 1-D array, a two-column array (predict_proba) or a DataFrame column")
    return values


def positive_probability(output: Any, output_column: str | None = None) -> np.ndarray:
    """The positive-class probability per row in a pyfunc model's output (see ``output_values``)."""
    values = output_values(output, output_column)
    try:
        return values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise AdoptError(f"the model's output is not numeric (e.g. {values[:3].tolist()}); it must be the "
                         "positive-class probability") from exc


def check_probabilities(output: Any, output_column: str | None, n_rows: int) -> None:
    """Raise AdoptError unless ``output`` holds ``n_rows`` finite probabilities in [0, 1] that are not class
    labels (integers, or only 0s and 1s)."""
    integers = output_values(output, output_column).dtype.kind in "iub"
    p = positive_probability(output, output_column)
    if p.shape != (n_rows,):
        raise AdoptError(f"the model returned {p.shape[0] if p.ndim else 0} values for {n_rows} rows")
    if not np.isfinite(p).all():
        raise AdoptError("the model returned NaN or infinite scores; it must return a probability per row")
    if (p < 0).any() or (p > 1).any():
        raise AdoptError(f"the model's output ranges {p.min():.3g}..{p.max():.3g}, not a probability in [0, 1]; "
                         "adopt a classifier whose output is the positive-class probability")
    if integers or (n_rows >= 10 and np.isin(p, (0.0, 1.0)).all()):
        # scikit-learn's MLflow flavour serves predict() unless logged with pyfunc_predict_fn="predict_proba".
        raise AdoptError("the model's output is only 0s and 1s: class labels, not probabilities; log it so that "
                         "its pyfunc output is the probability (scikit-learn: mlflow.sklearn.log_model(..., "
                         "pyfunc_predict_fn=\"predict_proba\"))")


@dataclass(frozen=True)
class AdoptedSettings:
    """What opsagent needs to call the model, saved beside it (``opsagent_adopted.json``)."""

    input_columns: list[str]
    output_column: str | None = None
    source_uri: str = ""

    def save(self, directory: Path) -> None:
        (directory / SETTINGS_FILE).write_text(json.dumps(self.__dict__, indent=2))

    @classmethod
    def read(cls, directory: Path) -> AdoptedSettings:
        data = json.loads((directory / SETTINGS_FILE).read_text())
        return cls(list(data["input_columns"]), data.get("output_column"), data.get("source_uri", ""))


def signature_columns(pyfunc: Any) -> list[str] | None:
    """The input column names of the model's signature, or None when it has no column-based signature."""
    signature = getattr(getattr(pyfunc, "metadata", None), "signature", None)
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return None
    return [str(c) for c in signature.inputs.input_names()]


def numeric_casts(pyfunc: Any) -> dict[str, str]:
    """Signature columns of numeric type, as ``int`` or ``float``: JSON numbers arrive as int64 or float64 by
    their values, and MLflow's schema enforcement refuses int64 for a double column and 3.0 for a long one."""
    signature = getattr(getattr(pyfunc, "metadata", None), "signature", None)
    if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
        return {}
    kinds = {"long": "int", "integer": "int", "double": "float", "float": "float"}
    names = {str(name): getattr(kind, "name", str(kind)) for name, kind in signature.inputs.input_types_dict().items()}
    return {name: kinds[kind] for name, kind in names.items() if kind in kinds}


def conform(frame: pd.DataFrame, casts: dict[str, str]) -> pd.DataFrame:
    """``frame`` with numeric columns cast to the signature's type where that loses nothing, and every text null
    (None from JSON, pandas' NA from validation) as NaN: what ``read_csv`` gives, so what most models were
    trained on (scikit-learn's imputers treat NaN as missing, but not None, and fail on NA)."""
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if (column.dtype == object or isinstance(column.dtype, pd.StringDtype)) and column.isna().any():
            out[name] = column.astype(object).where(column.notna(), np.nan)
    for name, kind in casts.items():
        if name not in out.columns:
            continue
        column = out[name]
        if kind == "float" and column.dtype.kind in "iub":
            out[name] = column.astype(np.float64)
        elif kind == "int" and column.dtype.kind == "f" and column.notna().all() and (column % 1 == 0).all():
            out[name] = column.astype(np.int64)
    return out


@dataclass
class AdoptedModel:
    """An MLflow pyfunc model behind the interface opsagent's models share."""

    pyfunc: Any  # mlflow.pyfunc.PyFuncModel
    directory: Path
    settings: AdoptedSettings
    threshold: float = 0.5
    meta: dict[str, Any] = field(default_factory=dict)
    fault: Fault | None = None
    casts: dict[str, str] = field(default_factory=dict, repr=False)  # see numeric_casts

    @classmethod
    def load(cls, directory: Path, tags: dict[str, str] | None = None) -> AdoptedModel:
        """The model in ``directory`` (a copied MLflow model plus the settings file), configured by its tags."""
        import mlflow

        tags = tags or {}
        pyfunc = mlflow.pyfunc.load_model(str(directory))
        fault = Fault(**json.loads(tags[FAULT_TAG])) if tags.get(FAULT_TAG) else None
        meta = {"kind": ADOPTED, "source_uri": tags.get(SOURCE_TAG, ""), "flavors": sorted(pyfunc.metadata.flavors)}
        return cls(pyfunc, directory, AdoptedSettings.read(directory), float(tags.get(THRESHOLD_TAG, 0.5)), meta,
                   fault, numeric_casts(pyfunc))

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Positive-class probability per row, read from the pyfunc output as the settings say."""
        if self.fault is not None:
            self._apply_fault()
        frame = conform(df[self.settings.input_columns], self.casts)
        return positive_probability(self.pyfunc.predict(frame), self.settings.output_column)

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(df) >= self.threshold).astype(np.int64)

    def _apply_fault(self) -> None:
        assert self.fault is not None
        self._calls = apply_fault(self.fault, getattr(self, "_calls", 0))


RegistryModel: TypeAlias = "TabularModel | AdoptedModel"  # what Registry.load returns (a name: no torch import)
