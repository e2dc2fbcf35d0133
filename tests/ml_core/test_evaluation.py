"""Metrics, per-slice metrics, the bias check and the evaluation report."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.evaluation import (
    EvaluationReport,
    SliceMetrics,
    best_f1_threshold,
    bias_check,
    classification_metrics,
    evaluate,
    slice_metrics,
)


def _frame(rng: np.random.Generator, n: int = 600) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Scores that separate the classes well, except for group ``b`` whose churners are all missed."""
    group = rng.choice(["a", "b"], size=n, p=[0.6, 0.4])
    y = (rng.random(n) < 0.3).astype(int)
    p = np.where(y == 1, rng.uniform(0.6, 1.0, n), rng.uniform(0.0, 0.4, n))
    p = np.where((group == "b") & (y == 1), rng.uniform(0.0, 0.3, n), p)
    return pd.DataFrame({"group": group, "tiny": ["x"] * (n - 10) + ["y"] * 10}), y, p


def test_classification_metrics_perfect_and_single_class():
    m = classification_metrics(np.array([0, 1, 1, 0]), np.array([0.1, 0.9, 0.8, 0.2]), 0.5)
    assert m["f1"] == 1.0 and m["auc"] == 1.0 and m["n"] == 4
    one = classification_metrics(np.array([0, 0]), np.array([0.1, 0.2]), 0.5)
    assert np.isnan(one["auc"])


def test_best_f1_threshold_separates_classes():
    y = np.array([0] * 50 + [1] * 50)
    p = np.concatenate([np.full(50, 0.3), np.full(50, 0.7)])
    t = best_f1_threshold(y, p)
    assert 0.3 < t <= 0.7
    assert classification_metrics(y, p, t)["f1"] == 1.0


def test_slice_metrics_reports_each_group_and_skips_tiny_ones():
    df, y, p = _frame(np.random.default_rng(0))
    slices = slice_metrics(df, y, p, 0.5, ["group", "tiny", "not_a_column"])
    by = {(s.column, s.value): s for s in slices}
    assert set(by) == {("group", "a"), ("group", "b"), ("tiny", "x"), ("tiny", "y")}
    assert by[("tiny", "y")].skipped and "10 rows" in by[("tiny", "y")].reason
    assert by[("group", "a")].metrics["recall"] == 1.0
    assert by[("group", "b")].metrics["recall"] == 0.0
    assert by[("group", "a")].n + by[("group", "b")].n == len(df)


def test_bias_check_flags_the_injected_gap():
    df, y, p = _frame(np.random.default_rng(1))
    slices = slice_metrics(df, y, p, 0.5, ["group", "tiny"])
    report = bias_check(slices, "recall", max_gap=0.1)
    assert not report.passed
    assert [(f.column, f.value) for f in report.flagged] == [("group", "b")]
    assert report.flagged[0].gap == 1.0 and report.reference == "best"
    assert "group=b" in report.summary()
    overall = classification_metrics(y, p, 0.5)
    vs_overall = bias_check(slices, "recall", max_gap=0.1, overall=overall)
    assert vs_overall.reference == "overall" and ("group", "b") in {(f.column, f.value) for f in vs_overall.flagged}


def test_bias_check_passes_fair_groups_and_ignores_skipped():
    fair = [SliceMetrics(column="g", value=v, n=100, positives=20, metrics={"f1": f})
            for v, f in (("a", 0.80), ("b", 0.75))]
    fair.append(SliceMetrics(column="g", value="c", n=5, positives=1, skipped=True))
    report = bias_check(fair, "f1", max_gap=0.1)
    assert report.passed and report.checked_groups == 2
    assert "passed" in report.summary()


class _Fixed:
    """A scorer returning preset probabilities, standing in for a trained model."""

    def __init__(self, p: np.ndarray, threshold: float = 0.5):
        self.p, self.threshold = p, threshold

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        return self.p[: len(df)]


def test_evaluate_combines_overall_slices_and_bias(churn_df):
    df = churn_df.head(400)
    y = CHURN_SCHEMA.labels_to_int(df[CHURN_SCHEMA.label]).to_numpy()
    p = np.where(y == 1, 0.9, 0.1).astype(float)
    # injected: every churner with an international plan is missed
    p[(df["international_plan"] == "yes").to_numpy() & (y == 1)] = 0.05
    report = evaluate(_Fixed(p), df, CHURN_SCHEMA)
    assert isinstance(report, EvaluationReport)
    assert report.overall["n"] == 400 and report.threshold == 0.5
    assert {s.column for s in report.slices} == set(CHURN_SCHEMA.slice_columns)
    assert ("international_plan", "yes") in {(f.column, f.value) for f in report.bias.flagged}
    assert report.slice("voice_mail_plan", "no") is not None
    assert "international_plan=yes" in report.summary()
    assert EvaluationReport.model_validate_json(report.model_dump_json()) == report
