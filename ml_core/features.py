"""Preprocessing saved with the model, so serving applies exactly the training transform."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml_core.data.schema import CHURN_SCHEMA, TableSchema

CHARGES = ["total_day_charge", "total_eve_charge", "total_night_charge", "total_intl_charge"]
MINUTES = ["total_day_minutes", "total_eve_minutes", "total_night_minutes", "total_intl_minutes"]
CALLS = ["total_day_calls", "total_eve_calls", "total_night_calls", "total_intl_calls"]


def engineered(df: pd.DataFrame) -> pd.DataFrame:
    """Domain features a tree finds by itself but an MLP learns slowly from raw columns."""
    intl_plan = (df["international_plan"] == "yes").astype("float64")
    vmail_plan = (df["voice_mail_plan"] == "yes").astype("float64")
    cs = df["number_customer_service_calls"].astype("float64")
    total_charge = df[CHARGES].sum(axis=1)
    return pd.DataFrame({
        "total_charge": total_charge,
        "total_minutes": df[MINUTES].sum(axis=1),
        "total_calls": df[CALLS].sum(axis=1),
        "cs_calls_high": (cs >= 4).astype("float64"),
        "cs_x_low_charge": (cs >= 4) * (df["total_day_minutes"] < 160),
        "high_charge": (total_charge > 72).astype("float64"),
        "intl_plan_x_minutes": intl_plan * df["total_intl_minutes"],
        "intl_plan_x_calls_low": intl_plan * (df["total_intl_calls"] < 3),
        "intl_plan_x_minutes_high": intl_plan * (df["total_intl_minutes"] > 13),
        "no_vmail_x_day_minutes": (1 - vmail_plan) * df["total_day_minutes"],
    }, index=df.index).astype("float64")


@dataclass
class Preprocessor:
    """Standardises numeric (raw + engineered) columns and one-hot encodes categoricals."""

    numeric: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, df: pd.DataFrame, schema: TableSchema = CHURN_SCHEMA) -> Preprocessor:
        num = cls._numeric_frame(df, schema)
        std = num.std(ddof=0).replace(0, 1.0)
        cats = {c: list(schema.column(c).categories) for c in schema.categorical_names}
        return cls(list(num.columns), cats, num.mean().tolist(), std.tolist())

    @staticmethod
    def _numeric_frame(df: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
        raw = df[schema.numeric_names].astype("float64")
        return pd.concat([raw, engineered(df)], axis=1)

    @property
    def n_features(self) -> int:
        return len(self.numeric) + sum(len(v) for v in self.categories.values())

    @property
    def feature_names(self) -> list[str]:
        return self.numeric + [f"{c}={v}" for c, vals in self.categories.items() for v in vals]

    def transform(self, df: pd.DataFrame, schema: TableSchema = CHURN_SCHEMA) -> np.ndarray:
        num = self._numeric_frame(df, schema)[self.numeric].to_numpy(dtype=np.float64)
        num = (num - np.asarray(self.mean)) / np.asarray(self.std)
        blocks = [num.astype(np.float32)]
        for col, vals in self.categories.items():
            codes = pd.Categorical(df[col], categories=vals).codes
            onehot = np.zeros((len(df), len(vals)), dtype=np.float32)
            known = codes >= 0
            onehot[np.nonzero(known)[0], codes[known]] = 1.0
            blocks.append(onehot)
        return np.concatenate(blocks, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": self.numeric, "categories": self.categories, "mean": self.mean, "std": self.std}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        return cls(list(d["numeric"]), {k: list(v) for k, v in d["categories"].items()},
                   list(d["mean"]), list(d["std"]))
