"""Classification metrics (F1, AUC, precision, recall, Brier, ECE), per-slice metrics and a bias check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from ml_core.data.schema import TableSchema

MIN_SLICE_ROWS = 30


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    # sklearn on first use: the spec (and so every CLI command) imports this module, few commands score.
    from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score

    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    pred = p >= threshold
    both = len(np.unique(y)) == 2
    return {
        "f1": float(f1_score(y, pred, zero_division=0)),
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "brier": float(brier_score_loss(y, p)) if len(y) else float("nan"),
        "ece": expected_calibration_error(y, p),
        "positive_rate": float(pred.mean()) if len(y) else float("nan"),
        "n": float(len(y)),
    }


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The decision threshold in [0.05, 0.95] (step 0.01) that maximises F1; ties go to the lowest."""
    y = np.asarray(y).astype(bool)
    p = np.asarray(p, dtype=float)
    grid = np.round(np.linspace(0.05, 0.95, 91), 2)
    pred = p[None, :] >= grid[:, None]  # vectorised: one row per candidate threshold
    tp = (pred & y).sum(axis=1)
    denom = pred.sum(axis=1) + y.sum()
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)
    return float(grid[int(np.argmax(f1))])


class SliceMetrics(BaseModel):
    """Metrics for the rows where ``column == value``; ``skipped`` slices are too small to judge."""

    column: str
    value: str
    n: int
    positives: int
    metrics: dict[str, float] = Field(default_factory=dict)
    skipped: bool = False
    reason: str = ""


def slice_metrics(df: pd.DataFrame, y: np.ndarray, p: np.ndarray, threshold: float,
                  slice_columns: Sequence[str], *, min_rows: int = MIN_SLICE_ROWS) -> list[SliceMetrics]:
    """Classification metrics per value of each slice column; slices under ``min_rows`` rows are listed
    as skipped rather than reported with noise-sized numbers."""
    y = np.asarray(y).astype(int)
    p = np.asarray(p, dtype=float)
    out: list[SliceMetrics] = []
    for col in slice_columns:
        if col not in df.columns:
            continue
        values = df[col].astype(str).to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            n, pos = int(mask.sum()), int(y[mask].sum())
            if n < min_rows:
                out.append(SliceMetrics(column=col, value=value, n=n, positives=pos, skipped=True,
                                        reason=f"only {n} rows (< {min_rows})"))
                continue
            out.append(SliceMetrics(column=col, value=value, n=n, positives=pos,
                                    metrics=classification_metrics(y[mask], p[mask], threshold)))
    return out


class BiasFlag(BaseModel):
    column: str
    value: str
    value_metric: float = Field(description="the group's metric")
    reference: float = Field(description="the overall metric, or the best group's in the same column")
    gap: float = Field(description="reference - value_metric; positive means the group is worse off")


class BiasReport(BaseModel):
    """Groups whose metric trails the reference by more than ``max_gap``."""

    metric: str
    max_gap: float
    reference: Literal["overall", "best"]
    flagged: list[BiasFlag] = Field(default_factory=list)
    checked_groups: int = 0

    @property
    def passed(self) -> bool:
        return not self.flagged

    def summary(self) -> str:
        if self.passed:
            return (f"bias check passed: {self.checked_groups} groups within {self.max_gap:.2f} "
                    f"{self.metric} of the {self.reference}")
        groups = ", ".join(f"{f.column}={f.value} ({self.metric} {f.value_metric:.3f}, gap {f.gap:.3f})"
                           for f in self.flagged)
        return f"bias check flagged {len(self.flagged)} group(s) beyond {self.max_gap:.2f}: {groups}"


def bias_check(slices: Sequence[SliceMetrics], metric: str = "recall", max_gap: float = 0.1, *,
               overall: dict[str, float] | None = None) -> BiasReport:
    """Flag groups whose ``metric`` is more than ``max_gap`` below the reference: the ``overall`` metric
    when given, else the best group of the same column. Skipped slices and NaN metrics are ignored."""
    flags: list[BiasFlag] = []
    checked = 0
    by_column: dict[str, list[SliceMetrics]] = {}
    for s in slices:
        if not s.skipped and not np.isnan(s.metrics.get(metric, float("nan"))):
            by_column.setdefault(s.column, []).append(s)
    for col, group in by_column.items():
        ref = overall[metric] if overall is not None else max(s.metrics[metric] for s in group)
        for s in group:
            checked += 1
            gap = float(ref - s.metrics[metric])
            if gap > max_gap:
                flags.append(BiasFlag(column=col, value=s.value, value_metric=s.metrics[metric],
                                      reference=float(ref), gap=gap))
    return BiasReport(metric=metric, max_gap=max_gap, reference="overall" if overall is not None else "best",
                      flagged=flags, checked_groups=checked)


class Scorer(Protocol):
    threshold: float

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray: ...


class EvaluationReport(BaseModel):
    """Everything a gate or a person needs to judge one model on one labelled table."""

    overall: dict[str, float]
    threshold: float
    slices: list[SliceMetrics] = Field(default_factory=list)
    bias: BiasReport

    def slice(self, column: str, value: str) -> SliceMetrics | None:
        return next((s for s in self.slices if s.column == column and s.value == value), None)

    def summary(self) -> str:
        o = self.overall
        lines = [f"n={int(o['n'])} auc={o['auc']:.4f} f1={o['f1']:.4f} precision={o['precision']:.4f} "
                 f"recall={o['recall']:.4f} brier={o['brier']:.4f} ece={o['ece']:.4f} "
                 f"threshold={self.threshold:.2f}"]
        for s in self.slices:
            if s.skipped:
                lines.append(f"  {s.column}={s.value}: skipped ({s.reason})")
            else:
                lines.append(f"  {s.column}={s.value}: n={s.n} auc={s.metrics['auc']:.4f} "
                             f"f1={s.metrics['f1']:.4f} recall={s.metrics['recall']:.4f}")
        lines.append(self.bias.summary())
        return "\n".join(lines)


def evaluate(model: Scorer, df: pd.DataFrame, schema: TableSchema, *,
             slice_columns: Sequence[str] | None = None, bias_metric: str = "recall",
             max_gap: float = 0.15, min_slice_rows: int = MIN_SLICE_ROWS) -> EvaluationReport:
    """Score ``df`` (which must carry the label) and report overall metrics, per-slice metrics and a
    bias check of each slice against the overall ``bias_metric``."""
    y = schema.labels_to_int(df[schema.label]).to_numpy()
    p = np.asarray(model.predict_proba(df), dtype=float)
    overall = classification_metrics(y, p, model.threshold)
    cols = schema.slice_columns if slice_columns is None else tuple(slice_columns)
    slices = slice_metrics(df, y, p, model.threshold, cols, min_rows=min_slice_rows)
    bias = bias_check(slices, bias_metric, max_gap, overall=overall)
    return EvaluationReport(overall=overall, threshold=float(model.threshold), slices=slices, bias=bias)
