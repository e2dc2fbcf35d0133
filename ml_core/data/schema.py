"""The churn table's schema: column kinds, allowed ranges and categories."""

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


STATES = [
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS",
    "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
    "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
]


@dataclass(frozen=True)
class TableSchema:
    columns: tuple[Column, ...]
    label: str
    positive_label: str
    id_column: str | None = None
    slice_columns: tuple[str, ...] = field(default=())

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

    def labels_to_int(self, labels: pd.Series) -> pd.Series:
        return (labels.astype(str) == self.positive_label).astype("int64")


def _num(name: str, high: float, kind: Literal["numeric", "integer"] = "numeric") -> Column:
    return Column(name, kind, 0.0, high)


# Ranges are the physically plausible bounds (a day has 1440 minutes), wide enough for real drift
# to pass validation: validation rejects broken data, drift detection judges shifted data.
CHURN_SCHEMA = TableSchema(
    columns=(
        Column("state", "categorical", categories=tuple(STATES)),
        _num("account_length", 1000, "integer"),
        Column("area_code", "categorical", categories=("area_code_408", "area_code_415", "area_code_510")),
        Column("international_plan", "categorical", categories=("no", "yes")),
        Column("voice_mail_plan", "categorical", categories=("no", "yes")),
        _num("number_vmail_messages", 200, "integer"),
        _num("total_day_minutes", 1440),
        _num("total_day_calls", 1000, "integer"),
        _num("total_day_charge", 500),
        _num("total_eve_minutes", 1440),
        _num("total_eve_calls", 1000, "integer"),
        _num("total_eve_charge", 500),
        _num("total_night_minutes", 1440),
        _num("total_night_calls", 1000, "integer"),
        _num("total_night_charge", 500),
        _num("total_intl_minutes", 1440),
        _num("total_intl_calls", 1000, "integer"),
        _num("total_intl_charge", 500),
        _num("number_customer_service_calls", 100, "integer"),
    ),
    label="churn",
    positive_label="yes",
    id_column="customer_id",
    slice_columns=("international_plan", "voice_mail_plan", "area_code"),
)
