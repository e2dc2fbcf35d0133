"""Tables for any spec: read and validate a file, split it, fingerprint it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ml_core.data.schema import TableSchema
from ml_core.data.validation import DataValidationError, validate_frame


def load_table(path: Path, schema: TableSchema, *, quarantine: bool = False,
               quarantine_dir: Path | None = None):
    """Read a CSV or Parquet file and validate it; returns the ValidationReport."""
    if not path.exists():
        raise DataValidationError(f"data file not found: {path}")
    try:
        df = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # any parser error becomes a user-facing message
        raise DataValidationError(f"could not read {path}: {exc}") from exc
    if schema.id_column and schema.id_column not in df.columns:
        df.insert(0, schema.id_column, [f"r{i:06d}" for i in range(len(df))])
    report = validate_frame(df, schema, require_label=True, quarantine=quarantine)
    if report.issues and quarantine_dir is not None:
        report.save(quarantine_dir, path.stem)
    return report


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def split_frame(df: pd.DataFrame, schema: TableSchema, *, seed: int = 7,
                valid_frac: float = 0.15, test_frac: float = 0.2) -> Split:
    """Stratified, seeded train/valid/test split, by customer.

    Rows of one customer (the original row and production copies whose ids are ``<customer>~<suffix>``)
    land on the same side, so no model is judged on a customer it trained on. With one row per
    customer this is the plain stratified row split.
    """
    from sklearn.model_selection import train_test_split

    y = schema.labels_to_int(df[schema.label])
    if y.nunique() < 2:
        raise DataValidationError(f"the label '{schema.label}' has a single class; cannot train a classifier")
    groups = customer_of(df[schema.id_column]) if schema.id_column and schema.id_column in df else None
    if groups is None:
        group_y = y.reset_index(drop=True)
        index = pd.Series(range(len(df)))
    else:
        group_y = y.groupby(groups.to_numpy(), sort=False).max()
        index = pd.Series(group_y.index)
        group_y = group_y.reset_index(drop=True)
    rest, test = train_test_split(index, test_size=test_frac, stratify=group_y, random_state=seed)
    train, valid = train_test_split(rest, test_size=valid_frac / (1 - test_frac), stratify=group_y[rest.index],
                                    random_state=seed)

    def rows(part: pd.Series) -> pd.DataFrame:
        if groups is None:
            return df.iloc[part.to_numpy()].reset_index(drop=True)
        chosen = set(part)
        order = {g: i for i, g in enumerate(part)}
        picked = df[groups.isin(chosen).to_numpy()]
        keys = customer_of(picked[schema.id_column]).map(order)
        return picked.iloc[keys.argsort(kind="stable").to_numpy()].reset_index(drop=True)

    return Split(rows(train), rows(valid), rows(test))


def customer_of(ids: pd.Series) -> pd.Series:
    """The customer behind a row id: production copies are ``<customer>~<request suffix>``."""
    return ids.astype(str).str.split("~", n=1).str[0]


def fingerprint(df: pd.DataFrame) -> str:
    """A content hash of a table (column order independent), logged with every run."""
    cols = sorted(df.columns)
    hashed = pd.util.hash_pandas_object(df[cols], index=False).to_numpy()
    h = hashlib.sha256(",".join(cols).encode())
    h.update(np.ascontiguousarray(hashed).tobytes())
    return f"sha256:{h.hexdigest()[:16]}:{len(df)}"
