"""Baselines: a gradient-boosting yardstick for the PyTorch model, and a tiny JSON model of last resort."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_core.data.churn import Split
from ml_core.data.schema import CHURN_SCHEMA, TableSchema
from ml_core.evaluation import best_f1_threshold, classification_metrics
from ml_core.features import Preprocessor, engineered


@dataclass
class BaselineResult:
    """A fitted scikit-learn gradient-boosting model, its F1-tuned threshold and its held-out metrics."""

    model: Any
    preprocessor: Preprocessor
    threshold: float
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]
    seconds: float = 0.0

    def predict_proba(self, df: pd.DataFrame, schema: TableSchema = CHURN_SCHEMA) -> np.ndarray:
        return self.model.predict_proba(self.preprocessor.transform(df, schema))[:, 1]


def train_baseline(split: Split, schema: TableSchema = CHURN_SCHEMA, *, seed: int = 7,
                   exclude: tuple[str, ...] = ("state",)) -> BaselineResult:
    """Fit scikit-learn's HistGradientBoostingClassifier on the same features the PyTorch model sees
    (raw + engineered, without the piecewise-linear bins a tree does not need); tune the threshold for F1
    on ``split.valid`` and report metrics on ``split.test``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    pre = Preprocessor.fit(split.train, schema, n_bins=0, exclude=exclude)
    model = HistGradientBoostingClassifier(random_state=seed)
    # One OpenMP thread: on 3,000 rows thread hand-offs cost more than they save, badly so on a busy box.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(pre.transform(split.train, schema), schema.labels_to_int(split.train[schema.label]).to_numpy())
    result = BaselineResult(model, pre, 0.5, {}, {})
    y_va = schema.labels_to_int(split.valid[schema.label]).to_numpy()
    p_va = result.predict_proba(split.valid, schema)
    result.threshold = best_f1_threshold(y_va, p_va)
    result.valid_metrics = classification_metrics(y_va, p_va, result.threshold)
    y_te = schema.labels_to_int(split.test[schema.label]).to_numpy()
    result.test_metrics = classification_metrics(y_te, result.predict_proba(split.test, schema), result.threshold)
    result.seconds = time.perf_counter() - start
    return result


# The handful of signals that carry most of the churn risk; each is computable from raw columns alone.
SIMPLE_FEATURES = ("total_charge", "number_customer_service_calls", "cs_calls_high", "cs_x_low_charge",
                   "intl_plan", "intl_plan_x_minutes_high", "intl_plan_x_calls_low", "voice_mail_plan",
                   "high_charge")


def _simple_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The SIMPLE_FEATURES of ``df``; missing inputs become NaN (filled with training means later)."""
    out = pd.DataFrame(index=df.index)
    try:
        eng = engineered(df)
    except (KeyError, TypeError, ValueError):
        eng = pd.DataFrame(index=df.index)
    for name in SIMPLE_FEATURES:
        if name in eng.columns:
            out[name] = eng[name]
        elif name in ("intl_plan", "voice_mail_plan"):
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
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    coef: list[float] = field(default_factory=list)
    intercept: float = 0.0
    threshold: float = 0.5
    prior: float = 0.0

    @classmethod
    def fit(cls, df: pd.DataFrame, schema: TableSchema = CHURN_SCHEMA,
            valid: pd.DataFrame | None = None) -> SimpleBaseline:
        """Fit on labelled rows; the F1 threshold is tuned on ``valid`` when given, else on ``df``."""
        from sklearn.linear_model import LogisticRegression

        x = _simple_frame(df)
        y = schema.labels_to_int(df[schema.label]).to_numpy()
        mean = x.mean().fillna(0.0)
        std = x.std(ddof=0).fillna(1.0).replace(0, 1.0)
        prior = float(y.mean()) if len(y) else 0.0
        model = cls(list(x.columns), mean.tolist(), std.tolist(), [0.0] * x.shape[1],
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
        """Churn probability per row."""
        z = self._standardise(_simple_frame(df)) @ np.asarray(self.coef) + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(df) >= self.threshold).astype(np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "simple_baseline", "features": self.features, "mean": self.mean, "std": self.std,
                "coef": self.coef, "intercept": self.intercept, "threshold": self.threshold,
                "prior": self.prior}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimpleBaseline:
        return cls(list(d["features"]), [float(v) for v in d["mean"]], [float(v) for v in d["std"]],
                   [float(v) for v in d["coef"]], float(d["intercept"]), float(d["threshold"]),
                   float(d.get("prior", 0.0)))

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: Path) -> SimpleBaseline:
        return cls.from_dict(json.loads(path.read_text()))
