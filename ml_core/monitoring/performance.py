"""Model performance in production: realised (delayed labels), estimated without labels (CBPE), prior shift.

The label-free estimate follows NannyML's confidence-based performance estimation (CBPE): when scores
are calibrated, a row scored p is a positive with probability p, so the expected confusion matrix at the
model threshold is TP = sum(p | predicted 1), FP = sum(1 - p | predicted 1), FN = sum(p | predicted 0),
TN = sum(1 - p | predicted 0), and the expected ROC AUC is the AUC of every row counted as a positive
with weight p and as a negative with weight 1 - p. It holds under covariate shift, not under concept
drift (p(y|x) changing), which only delayed labels reveal.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sklearn.metrics import roc_auc_score

from ml_core.evaluation import classification_metrics
from ml_core.monitoring.drift_stats import two_proportion_pvalue
from ml_core.monitoring.sufficiency import proportion_shortfall

HEADLINE = ("f1", "auc", "precision", "recall")


class RealisedPerformance(BaseModel):
    """Metrics on the predictions whose labels have arrived, against the model's test metrics."""

    n_predictions: int
    n_labelled: int
    label_coverage: float
    metrics: dict[str, float]
    reference: dict[str, float]
    metric: str
    drop: float | None = Field(description="reference minus realised value of the headline metric")
    drop_se: float | None = Field(default=None, description="bootstrap standard error of the realised metric")
    enough_labels: bool
    dropped: bool


class CBPEEstimate(BaseModel):
    """Label-free estimate for the current window and the same estimate on the reference period."""

    n: int
    current: dict[str, float]
    reference: dict[str, float]
    metric: str
    drop: float
    drop_se: float | None = Field(default=None, description="bootstrap standard error of the drop")
    dropped: bool


class PriorShift(BaseModel):
    """Label shift: predicted positive rate, mean score and (with labels) actual positive rate."""

    n: int = Field(description="scored rows in the window")
    predicted_positive_rate: float = Field(description="share of the window's rows scored at or above the threshold")
    reference_predicted_positive_rate: float = Field(description="the same share on the reference rows")
    mean_score: float = Field(description="mean score in the window")
    reference_mean_score: float = Field(description="mean score on the reference rows")
    predicted_rate_pvalue: float = Field(description="two-proportion z-test of the predicted rates")
    actual_positive_rate: float | None = Field(None, description="share of positives among the window's labels")
    reference_actual_positive_rate: float | None = Field(None, description="share of positives in the reference")
    actual_rate_pvalue: float | None = Field(None, description="two-proportion z-test of the actual rates")
    predicted_rate_shortfall: str | None = Field(None, description="why the window is too small to test the "
                                                                   "predicted rate (not tested then)")
    actual_rate_shortfall: str | None = Field(None, description="why the labels are too few to test the actual rate")
    shifted: bool = Field(description="a rate moved by at least the threshold, significantly")


def realised_performance(labelled: pd.DataFrame, reference_metrics: Mapping[str, float], threshold: float, *,
                         n_predictions: int | None = None, metric: str = "f1", max_drop: float = 0.08,
                         min_labels: int = 100, z: float = 2.5) -> RealisedPerformance:
    """F1/AUC/precision/recall on ``labelled`` (``PredictionLog.labelled()``: ``score``, ``actual``).

    ``dropped`` when at least ``min_labels`` labels arrived and ``metric`` fell by more than ``max_drop``
    and by more than ``z`` bootstrap standard errors (F1 on a few dozen positives swings by 0.1).
    """
    n_lab = len(labelled)
    n_pred = n_predictions if n_predictions is not None else n_lab
    metrics = (classification_metrics(labelled["actual"].to_numpy(), labelled["score"].to_numpy(), threshold)
               if n_lab else {})
    ref = {k: float(reference_metrics[k]) for k in HEADLINE if k in reference_metrics}
    value = metrics.get(metric, float("nan"))
    drop = ref[metric] - value if metric in ref and np.isfinite(value) else None
    enough = n_lab >= min_labels
    se = None
    if enough and drop is not None and drop > max_drop:
        se = bootstrap_se(labelled["actual"].to_numpy(), labelled["score"].to_numpy(), threshold, metric)
    return RealisedPerformance(
        n_predictions=n_pred, n_labelled=n_lab, label_coverage=n_lab / n_pred if n_pred else 0.0,
        metrics=metrics, reference=ref, metric=metric, drop=drop, drop_se=se, enough_labels=enough,
        dropped=bool(se is not None and drop > z * se))


def bootstrap_se(y: np.ndarray, p: np.ndarray, threshold: float, metric: str, rounds: int = 200,
                 seed: int = 0) -> float:
    """Bootstrap standard error of a metric (vectorised for the threshold metrics)."""
    rng = np.random.default_rng(seed)
    y, p = np.asarray(y).astype(bool), np.asarray(p, dtype=float)
    idx = rng.integers(0, len(y), size=(rounds, len(y)))
    if metric == "auc":
        vals = [roc_auc_score(y[i], p[i]) for i in idx[:100] if 0 < y[i].sum() < len(i)]
        return float(np.std(vals)) if vals else float("nan")
    yb, pb = y[idx], (p >= threshold)[idx]
    tp = (yb & pb).sum(1).astype(float)
    fp = (~yb & pb).sum(1)
    fn = (yb & ~pb).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = {"f1": 2 * tp / (2 * tp + fp + fn), "precision": tp / (tp + fp), "recall": tp / (tp + fn)}[metric]
    return float(np.nanstd(np.nan_to_num(val, nan=0.0)))


def expected_confusion(scores: np.ndarray, threshold: float) -> tuple[float, float, float, float]:
    """Expected TP, FP, FN, TN of calibrated ``scores`` at ``threshold``."""
    p = np.asarray(scores, dtype=float)
    pred = p >= threshold
    tp, fp = float(p[pred].sum()), float((1 - p[pred]).sum())
    fn, tn = float(p[~pred].sum()), float((1 - p[~pred]).sum())
    return tp, fp, fn, tn


def expected_auc(scores: np.ndarray) -> float:
    """Expected ROC AUC: each row is a positive with weight p and a negative with weight 1 - p."""
    p = np.asarray(scores, dtype=float)
    if len(p) == 0 or p.sum() == 0 or (1 - p).sum() == 0:
        return float("nan")
    y = np.r_[np.ones(len(p)), np.zeros(len(p))]
    return float(roc_auc_score(y, np.r_[p, p], sample_weight=np.r_[p, 1 - p]))


def estimate_metrics(scores: np.ndarray, threshold: float) -> dict[str, float]:
    """CBPE point estimates of precision, recall, F1 and ROC AUC from calibrated scores."""
    tp, fp, fn, _ = expected_confusion(scores, threshold)
    p = np.asarray(scores, dtype=float)
    return {
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"),
        "auc": expected_auc(p),
        "positive_rate": float((p >= threshold).mean()) if len(p) else float("nan"),
        "n": float(len(p)),
    }


def cbpe_estimate(current_scores: np.ndarray, reference_scores: np.ndarray, threshold: float, *,
                  metric: str = "f1", max_drop: float = 0.08, min_rows: int = 100, z: float = 2.5) -> CBPEEstimate:
    """Estimated performance of the current window vs the same estimate on the reference scores.

    ``dropped`` when the estimate fell by more than ``max_drop`` and by more than ``z`` bootstrap
    standard errors of the difference (few predicted positives make F1 estimates jumpy).
    """
    cur = estimate_metrics(current_scores, threshold)
    ref = estimate_metrics(reference_scores, threshold)
    drop = ref[metric] - cur[metric]
    se = None
    if len(current_scores) >= min_rows and np.isfinite(drop) and drop > max_drop:
        se = float(np.hypot(_estimate_se(np.asarray(current_scores, float), threshold, metric),
                            _estimate_se(np.asarray(reference_scores, float), threshold, metric)))
    return CBPEEstimate(n=len(current_scores), current=cur, reference=ref, metric=metric,
                        drop=float(drop) if np.isfinite(drop) else 0.0, drop_se=se,
                        dropped=bool(se is not None and drop > z * se))


def _estimate_se(p: np.ndarray, threshold: float, metric: str, rounds: int = 200, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(p), size=(rounds, len(p)))
    if metric == "auc":
        return float(np.nanstd([expected_auc(p[i]) for i in idx[:50]]))
    pb = p[idx]
    pred = pb >= threshold
    tp, fp = (pb * pred).sum(1), ((1 - pb) * pred).sum(1)
    fn = (pb * ~pred).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = {"f1": 2 * tp / (2 * tp + fp + fn), "precision": tp / (tp + fp), "recall": tp / (tp + fn)}[metric]
    return float(np.nanstd(val))


def prior_shift(current_scores: np.ndarray, reference_scores: np.ndarray, threshold: float, *,
                current_actual: np.ndarray | None = None, reference_actual: np.ndarray | None = None,
                max_abs_shift: float = 0.05, alpha: float = 0.01) -> PriorShift:
    """Shift in the predicted (and, with labels, actual) positive rate.

    ``shifted`` when a rate moved by at least ``max_abs_shift`` and a two-proportion z-test gives
    p < ``alpha``: the size guard keeps large windows quiet, the test keeps small ones quiet. A rate the
    window is too small to test soundly (``sufficiency.proportion_shortfall``) is not tested; the reason is
    in ``predicted_rate_shortfall`` / ``actual_rate_shortfall``.
    """
    cur, ref = np.asarray(current_scores, float), np.asarray(reference_scores, float)
    cur_pos, ref_pos = (cur >= threshold), (ref >= threshold)
    pr, rpr = float(cur_pos.mean()) if len(cur) else float("nan"), float(ref_pos.mean())
    p_pred = two_proportion_pvalue(cur_pos.sum(), len(cur), ref_pos.sum(), len(ref))
    pred_short = proportion_shortfall(len(cur), rpr, len(ref), alpha) if len(cur) else "no scored rows"
    shifted = pred_short is None and abs(pr - rpr) >= max_abs_shift and p_pred < alpha
    out = dict(n=len(cur), predicted_positive_rate=pr, reference_predicted_positive_rate=rpr,
               mean_score=float(cur.mean()) if len(cur) else float("nan"), reference_mean_score=float(ref.mean()),
               predicted_rate_pvalue=p_pred, predicted_rate_shortfall=pred_short)
    if current_actual is not None and reference_actual is not None and len(current_actual):
        ca, ra = np.asarray(current_actual, float), np.asarray(reference_actual, float)
        p_act = two_proportion_pvalue(ca.sum(), len(ca), ra.sum(), len(ra))
        act_short = proportion_shortfall(len(ca), float(ra.mean()), len(ra), alpha)
        out.update(actual_positive_rate=float(ca.mean()), reference_actual_positive_rate=float(ra.mean()),
                   actual_rate_pvalue=p_act, actual_rate_shortfall=act_short)
        shifted = shifted or (act_short is None and abs(ca.mean() - ra.mean()) >= max_abs_shift and p_act < alpha)
    return PriorShift(**out, shifted=bool(shifted))
