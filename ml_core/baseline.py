"""Baselines: a gradient-boosting yardstick for the PyTorch model, and a tiny JSON model of last resort."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_core.data.schema import TableSchema
from ml_core.data.tables import Split
from ml_core.evaluation import best_f1_threshold, classification_metrics
from ml_core.features import ENGINEERED, churn_engineered


def native_frame(df: pd.DataFrame, schema: TableSchema, exclude: tuple[str, ...] = ()) -> pd.DataFrame:
    """The gradient-boosting baseline's inputs: raw numeric columns with their nulls kept (the trees learn a
    direction for missing values), the feature set's engineered columns, and categoricals as pandas
    categories with the spec's levels (native categorical splits; an unknown level becomes a null)."""
    numeric = [c for c in schema.numeric_names if c not in exclude]
    out = df[numeric].astype("float64")
    make = ENGINEERED.get(schema.feature_set)
    if make is not None:
        out = out.join(make(df))
    for col in schema.categorical_names:
        if col not in exclude:
            out[col] = pd.Categorical(df[col], categories=schema.column(col).categories)
    return out


@dataclass
class BaselineResult:
    """A fitted scikit-learn gradient-boosting model, its F1-tuned threshold and its held-out metrics."""

    model: Any
    schema: TableSchema
    exclude: tuple[str, ...]
    threshold: float
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]
    seconds: float = 0.0

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(native_frame(df, self.schema, self.exclude))[:, 1]


def train_baseline(split: Split, schema: TableSchema, *, seed: int = 7,
                   exclude: tuple[str, ...] = ()) -> BaselineResult:
    """Fit scikit-learn's HistGradientBoostingClassifier as the yardstick the PyTorch model must match; tune
    the threshold for F1 on ``split.valid`` and report metrics on ``split.test``.

    It is given its strongest ordinary setup, not the MLP's inputs: nulls kept and categoricals native
    (measured stronger than one-hot + median imputation on credit, equal on churn), and early stopping on
    ``split.valid`` (the rows the MLP early-stops on) at a learning rate of 0.05 instead of a fixed
    100 rounds at 0.1, which over-fits 3,000 rows. See evals/bench_quality.py."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    y_tr = schema.labels_to_int(split.train[schema.label]).to_numpy()
    y_va = schema.labels_to_int(split.valid[schema.label]).to_numpy()
    model = HistGradientBoostingClassifier(learning_rate=0.05, max_iter=1000, early_stopping=True,
                                           n_iter_no_change=20, categorical_features="from_dtype",
                                           random_state=seed)
    # One OpenMP thread: on 3,000 rows thread hand-offs cost more than they save, badly so on a busy box.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(native_frame(split.train, schema, exclude), y_tr,
                  X_val=native_frame(split.valid, schema, exclude), y_val=y_va)
    result = BaselineResult(model, schema, exclude, 0.5, {}, {})
    p_va = result.predict_proba(split.valid)
    result.threshold = best_f1_threshold(y_va, p_va)
    result.valid_metrics = classification_metrics(y_va, p_va, result.threshold)
    y_te = schema.labels_to_int(split.test[schema.label]).to_numpy()
    result.test_metrics = classification_metrics(y_te, result.predict_proba(split.test), result.threshold)
    result.seconds = time.perf_counter() - start
    return result


# The churn demo's handful of signals that carry most of its risk; each is computable from raw columns alone.
# A model of another feature set uses its numeric columns and one indicator per category.
SIMPLE_FEATURES = ("total_charge", "number_customer_service_calls", "cs_calls_high", "cs_x_low_charge",
                   "intl_plan", "intl_plan_x_minutes_high", "intl_plan_x_calls_low", "voice_mail_plan",
                   "high_charge")


MAX_INDICATOR_CATEGORIES = 20  # a categorical with more levels than this adds no indicators (too sparse)


def simple_features(schema: TableSchema) -> list[str]:
    if schema.feature_set == "churn":
        return list(SIMPLE_FEATURES)
    return [*schema.numeric_names, *(f"{c.name}={v}" for c in schema.columns if c.kind == "categorical"
                                     and len(c.categories) <= MAX_INDICATOR_CATEGORIES for v in c.categories)]


def _simple_frame(df: pd.DataFrame, features: list[str], feature_set: str) -> pd.DataFrame:
    """The ``features`` of ``df``; missing inputs become NaN (filled with training means later)."""
    out = pd.DataFrame(index=df.index)
    eng = pd.DataFrame(index=df.index)
    if feature_set == "churn":
        with contextlib.suppress(KeyError, TypeError, ValueError):  # inputs missing: those features are NaN
            eng = churn_engineered(df)
    for name in features:
        if name in eng.columns:
            out[name] = eng[name]
        elif "=" in name:
            col, value = name.split("=", 1)
            out[name] = (df[col].astype(str) == value).astype("float64").where(df[col].notna()) \
                if col in df.columns else np.nan
        elif feature_set == "churn" and name in ("intl_plan", "voice_mail_plan"):
            src = "international_plan" if name == "intl_plan" else "voice_mail_plan"
            out[name] = (df[src] == "yes").astype("float64") if src in df.columns else np.nan
        elif name in df.columns:
            out[name] = pd.to_numeric(df[name], errors="coerce")
        else:
            out[name] = np.nan
    return out.astype("float64")


@dataclass
class SimpleBaseline:
    """Logistic regression on a few engineered signals, stored as plain JSON.

    The serving fallback of last resort: no torch, no pickle, and it still answers when columns are
    missing or null (they take the training mean, so with no inputs at all it returns one constant score
    near the class prior).
    """

    features: list[str] = field(default_factory=lambda: list(SIMPLE_FEATURES))
    feature_set: str = "churn"
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    coef: list[float] = field(default_factory=list)
    intercept: float = 0.0
    threshold: float = 0.5
    prior: float = 0.0

    @classmethod
    def fit(cls, df: pd.DataFrame, schema: TableSchema,
            valid: pd.DataFrame | None = None) -> SimpleBaseline:
        """Fit on labelled rows; the F1 threshold is tuned on ``valid`` when given, else on ``df``."""
        from sklearn.linear_model import LogisticRegression

        x = _simple_frame(df, simple_features(schema), schema.feature_set)
        y = schema.labels_to_int(df[schema.label]).to_numpy()
        mean = x.mean().fillna(0.0)
        std = x.std(ddof=0).fillna(1.0).replace(0, 1.0)
        prior = float(y.mean()) if len(y) else 0.0
        model = cls(list(x.columns), schema.feature_set, mean.tolist(), std.tolist(), [0.0] * x.shape[1],
                    float(np.log(max(prior, 1e-6) / max(1 - prior, 1e-6))), 0.5, prior)
        if len(np.unique(y)) == 2:
            lr = LogisticRegression(max_iter=2000).fit(model._standardise(x), y)
            model.coef, model.intercept = lr.coef_[0].tolist(), float(lr.intercept_[0])
            tune = valid if valid is not None else df
            model.threshold = best_f1_threshold(schema.labels_to_int(tune[schema.label]).to_numpy(),
                                                model.predict_proba(tune))
        return model

    def _standardise(self, x: pd.DataFrame) -> np.ndarray:
        arr = x[self.features].to_numpy(dtype=np.float64)
        mean = np.asarray(self.mean)
        arr = np.where(np.isnan(arr), mean, arr)
        return (arr - mean) / np.asarray(self.std)

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        """Positive-class probability per row."""
        x = self._standardise(_simple_frame(df, self.features, self.feature_set))
        z = x @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(df) >= self.threshold).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "simple_baseline", "features": self.features, "feature_set": self.feature_set,
                "mean": self.mean, "std": self.std,
                "coef": self.coef, "intercept": self.intercept, "threshold": self.threshold,
                "prior": self.prior}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimpleBaseline:
        # Fallbacks saved before specs existed are the churn demo's.
        return cls(list(d["features"]), d.get("feature_set", "churn"), [float(v) for v in d["mean"]],
                   [float(v) for v in d["std"]],
                   [float(v) for v in d["coef"]], float(d["intercept"]), float(d["threshold"]),
                   float(d.get("prior", 0.0)))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> SimpleBaseline:
        return cls.from_dict(json.loads(path.read_text()))
