"""A table's schema (column kinds, allowed ranges and categories), and the churn demo's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd


@dataclass(frozen=True)
class Column:
    name: str
    kind: Literal["numeric", "integer", "categorical"]
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] = ()
    nullable: bool = False  # nulls are expected and imputed; in a non-nullable column a null is bad data


@dataclass(frozen=True)
class TableSchema:
    columns: tuple[Column, ...]
    label: str
    positive_label: str
    negative_label: str | None  # None: every value but the positive one is negative (one-vs-rest)
    id_column: str | None = None
    slice_columns: tuple[str, ...] = field(default=())
    feature_set: str = "plain"  # engineered features the preprocessor adds: "plain" (none) or "churn"

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def numeric_names(self) -> list[str]:
        return [c.name for c in self.columns if c.kind != "categorical"]

    @property
    def categorical_names(self) -> list[str]:
        return [c.name for c in self.columns if c.kind == "categorical"]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def label_values(self) -> tuple[str, ...] | None:
        """The valid label values, or None when any value is (one-vs-rest)."""
        return None if self.negative_label is None else (self.negative_label, self.positive_label)

    @property
    def nullable_names(self) -> list[str]:
        return [c.name for c in self.columns if c.nullable]

    def labels_to_int(self, labels: pd.Series) -> pd.Series:
        return (label_text(labels) == self.positive_label).fillna(False).astype("int64")


def label_text(labels: pd.Series) -> pd.Series:
    """Label values as the strings a spec stores: a 0/1 column read as floats (gaps, Parquet) gives "1", not "1.0"."""
    if pd.api.types.is_float_dtype(labels):
        whole = labels.dropna()
        if len(whole) and (whole % 1 == 0).all():
            return labels.astype("Int64").astype("string")
    return labels.astype("string")
