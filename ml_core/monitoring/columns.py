"""Which columns a monitoring check looks at, and each one's drift kind (fixed by the schema, so a window's
typing never depends on its contents)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ml_core.data.schema import TableSchema
from ml_core.monitoring.drift_screen import ColumnKind


def schema_kinds(schema: TableSchema) -> dict[str, ColumnKind]:
    """Fixed drift kinds from the table schema, so a window's typing never depends on its contents."""
    return {c.name: ("categorical" if c.kind == "categorical" else "numerical") for c in schema.columns}


def checked_columns(reference_df: pd.DataFrame, window: pd.DataFrame, schema: TableSchema | None,
                    feature_columns: Sequence[str] | None, kinds: Mapping[str, ColumnKind] | None
                    ) -> tuple[list[str], dict[str, ColumnKind]]:
    """The features to check and their drift kinds: as given, else from the schema, else the columns the
    reference and the window share (typed by the reference's dtypes)."""
    if feature_columns is not None:
        features = list(feature_columns)
    elif schema is not None:
        features = [c for c in schema.feature_names if c in reference_df.columns]
    else:
        features = [c for c in reference_df.columns if c in window.columns]
    if kinds is not None:
        return features, dict(kinds)
    known = schema_kinds(schema) if schema is not None else {}
    return features, {c: known.get(c) or ("numerical" if pd.api.types.is_numeric_dtype(reference_df[c])
                                          else "categorical") for c in features}
