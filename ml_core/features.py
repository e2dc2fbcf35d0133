"""Preprocessing saved with the model, so serving applies exactly the training transform."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ml_core.data.schema import TableSchema

CHARGES = ["total_day_charge", "total_eve_charge", "total_night_charge", "total_intl_charge"]
MINUTES = ["total_day_minutes", "total_eve_minutes", "total_night_minutes", "total_intl_minutes"]
CALLS = ["total_day_calls", "total_eve_calls", "total_night_calls", "total_intl_calls"]


def churn_engineered(df: pd.DataFrame) -> pd.DataFrame:
    """The churn demo's domain features (feature_set 'churn'): a tree finds them by itself, an MLP learns
    them slowly from raw columns."""
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


ENGINEERED = {"churn": churn_engineered}  # feature_set -> function; "plain" adds none


SKEW_FOR_LOG = 2.0  # a non-negative column skewed more than this in training is standardised on log1p scale


def skewed_non_negative(num: pd.DataFrame) -> list[str]:
    """Columns to log-transform, decided from training rows: never negative and with a long right tail
    (sample skewness above SKEW_FOR_LOG), like money amounts. Standardised raw, one large value sits tens of
    deviations out and dominates its first layer's input; on log1p scale it is a few deviations out."""
    chosen = []
    for col in num.columns:
        if col.endswith("#null"):
            continue
        x = num[col].dropna()
        if len(x) > 2 and x.min() >= 0 and x.nunique() > 2 and float(x.skew()) > SKEW_FOR_LOG:
            chosen.append(col)
    return chosen


def _quantile_edges(values: np.ndarray, n_bins: int) -> list[float]:
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1)))
    return edges.tolist() if len(edges) >= 3 else []


def piecewise_linear(x: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Piecewise-linear encoding (Gorishniy et al., 2022): one column per bin, 0 below it, 1 above it,
    linear inside. It hands the MLP the step-like thresholds a tree finds by itself. Clipped at both ends
    so drifted values saturate instead of extrapolating."""
    lo = np.asarray(edges[:-1])
    width = np.diff(np.asarray(edges))
    return np.clip((x[:, None] - lo) / width, 0.0, 1.0)


@dataclass
class Preprocessor:
    """Standardises numeric (raw + engineered) columns, long-tailed non-negative ones on log1p scale, adds
    piecewise-linear bins of them and one-hot encodes categoricals. Gaps are imputed with what training
    learned: a numeric null becomes the training median plus a 1 in the column's ``<name>#null`` indicator;
    a categorical null (or an unknown category) is an all-zero one-hot row. Columns in ``excluded`` are
    ignored (the churn demo's ``state``: 51 levels of noise at its data size). Everything it needs is saved
    with the model, so serving applies exactly the training transform without the spec."""

    numeric: list[str] = field(default_factory=list)
    categories: dict[str, list[str]] = field(default_factory=dict)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    bin_edges: dict[str, list[float]] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    raw_numeric: list[str] = field(default_factory=list)  # the table's own numeric columns, in order
    feature_set: str = "plain"
    medians: dict[str, float] = field(default_factory=dict)  # nullable numeric column -> imputed value
    log_columns: list[str] = field(default_factory=list)  # numeric features standardised on log1p scale

    @classmethod
    def fit(cls, df: pd.DataFrame, schema: TableSchema, *, n_bins: int = 0,
            exclude: Sequence[str] = (), log_skewed: bool = True) -> Preprocessor:
        """Learn the transform from training rows; ``n_bins=0`` turns the piecewise-linear bins off and
        ``log_skewed=False`` the log1p scale of long-tailed columns."""
        raw_numeric = [c for c in schema.numeric_names if c not in exclude]
        medians = {}
        for c in raw_numeric:
            col = df[c].astype("float64")
            if schema.column(c).nullable or col.isna().any():
                medians[c] = float(col.median()) if col.notna().any() else 0.0
        pre = cls(raw_numeric=raw_numeric, feature_set=schema.feature_set, medians=medians, excluded=list(exclude))
        num = pre._numeric_frame(df)
        if log_skewed:
            # Only the table's own columns: engineered features (the churn demo's) are designed by hand, and
            # rescaling them changed the demo's model for no measured gain.
            pre.log_columns = skewed_non_negative(num[raw_numeric])
            num = pre._log_scaled(num)
        std = num.std(ddof=0).replace(0, 1.0)
        cats = {c: list(schema.column(c).categories) for c in schema.categorical_names if c not in exclude}
        edges: dict[str, list[float]] = {}
        if n_bins > 1:
            for col in num.columns:
                if col.endswith("#null"):
                    continue
                e = _quantile_edges(num[col].to_numpy(dtype=np.float64), n_bins)
                if e:
                    edges[col] = e
        pre.numeric, pre.categories, pre.mean, pre.std, pre.bin_edges = (
            list(num.columns), cats, num.mean().tolist(), std.tolist(), edges)
        return pre

    def _numeric_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        raw = df[self.raw_numeric].astype("float64")
        blocks = [raw.fillna(self.medians) if self.medians else raw]
        if self.medians:
            blocks.append(pd.DataFrame({f"{c}#null": df[c].isna().astype("float64") for c in self.medians},
                                       index=df.index))
        make = ENGINEERED.get(self.feature_set)
        if make is not None:
            blocks.append(make(blocks[0].join(df.drop(columns=self.raw_numeric, errors="ignore"))))
        return pd.concat(blocks, axis=1)

    def _log_scaled(self, num: pd.DataFrame) -> pd.DataFrame:
        if not self.log_columns:
            return num
        out = num.copy()
        # Clipped at 0: the column was never negative in training, so a negative value is out of range anyway.
        out[self.log_columns] = np.log1p(num[self.log_columns].clip(lower=0.0))
        return out

    @property
    def n_features(self) -> int:
        return (len(self.numeric) + sum(len(e) - 1 for e in self.bin_edges.values())
                + sum(len(v) for v in self.categories.values()))

    @property
    def feature_names(self) -> list[str]:
        bins = [f"{c}#bin{i}" for c, e in self.bin_edges.items() for i in range(len(e) - 1)]
        return self.numeric + bins + [f"{c}={v}" for c, vals in self.categories.items() for v in vals]

    def transform(self, df: pd.DataFrame) -> np.ndarray:
        frame = self._log_scaled(self._numeric_frame(df))[self.numeric]
        num = frame.to_numpy(dtype=np.float64)
        blocks = [((num - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)]
        for col, edges in self.bin_edges.items():
            blocks.append(piecewise_linear(frame[col].to_numpy(dtype=np.float64), edges).astype(np.float32))
        for col, vals in self.categories.items():
            codes = pd.Categorical(df[col], categories=vals).codes
            onehot = np.zeros((len(df), len(vals)), dtype=np.float32)
            known = codes >= 0
            onehot[np.nonzero(known)[0], codes[known]] = 1.0
            blocks.append(onehot)
        return np.concatenate(blocks, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"numeric": self.numeric, "categories": self.categories, "mean": self.mean, "std": self.std,
                "bin_edges": self.bin_edges, "excluded": self.excluded, "raw_numeric": self.raw_numeric,
                "feature_set": self.feature_set, "medians": self.medians,
                "log_columns": self.log_columns}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessor:
        # Bundles saved before specs existed are the churn demo's: raw columns are the numeric ones
        # that are not its engineered features, and the feature set is churn's.
        numeric = list(d["numeric"])
        if "raw_numeric" in d:
            raw, feature_set = list(d["raw_numeric"]), d["feature_set"]
        else:
            engineered = set(churn_engineered(pd.DataFrame(0.0, index=[0], columns=_CHURN_INPUTS)).columns)
            raw, feature_set = [c for c in numeric if c not in engineered], "churn"
        return cls(numeric, {k: list(v) for k, v in d["categories"].items()}, list(d["mean"]), list(d["std"]),
                   {k: list(v) for k, v in d.get("bin_edges", {}).items()}, list(d.get("excluded", [])),
                   raw, feature_set, {k: float(v) for k, v in d.get("medians", {}).items()},
                   list(d.get("log_columns", [])))


# The columns churn_engineered reads, to name its outputs when loading an old bundle.
_CHURN_INPUTS = ["international_plan", "voice_mail_plan", "number_customer_service_calls", *CHARGES, *MINUTES,
                 *CALLS]
