"""One monitoring check over a prediction-log window: drift, performance, prior shift, SLOs, data quality
(rejections, nulls, and implausible values: ``plausibility``).

Per-feature drift verdicts are Evidently's defaults (see ``drift_screen``), but a default verdict alone
is too noisy to page anyone: with one p-value test per column at 0.05, a 19-feature table raises a false
alarm on most same-distribution windows, and Jensen-Shannon >= 0.1 on a 50-category column fires on a
500-row window by chance. A feature becomes a finding only when Evidently calls it drifted *and* the
shift is significant after a Bonferroni correction across the columns checked (``drift_alpha`` /
number of columns). Each confirmed feature is reported by name; a confirmed share of
``dataset_drift_share`` or more is also reported as dataset drift.

A window too small for a sound test of a column (or of the score, a positive rate, the label-free estimate)
gives no verdict and no finding: it is listed in ``MonitoringResult.insufficient`` with the reason, and the
summary says "not enough data for ..." (the rules and their arguments are in ``sufficiency``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from ml_core.data.schema import TableSchema
from ml_core.monitoring.columns import checked_columns
from ml_core.monitoring.drift_screen import (
    ColumnKind,
    DriftScreenResult,
    FeatureDrift,
    ReferenceProfile,
    build_profile,
    build_score_profile,
    screen,
    screen_scores,
)
from ml_core.monitoring.findings import SEVERITY_RANK, Finding, FindingKind, Severity
from ml_core.monitoring.performance import (
    CBPEEstimate,
    PriorShift,
    RealisedPerformance,
    cbpe_estimate,
    prior_shift,
    realised_performance,
)
from ml_core.monitoring.plausibility import PlausibilityProfile, PlausibilityReport, build_plausibility_profile
from ml_core.monitoring.quality_checks import check_plausible, check_quality
from ml_core.monitoring.slo import DataQuality, SLOReport, slo_report
from ml_core.monitoring.sufficiency import (
    InsufficientColumn,
    below_floor,
    estimate_shortfall,
    labels_shortfall,
    not_enough_line,
)
from ml_core.monitoring.thresholds import MonitoringThresholds

# Re-exported: callers import the finding types and the quality check from here.
__all__ = ["Finding", "FindingKind", "MonitoringResult", "MonitoringThresholds", "Severity", "check_quality",
           "run_check", "summarise"]


class MonitoringResult(BaseModel):
    status: Literal["ok", "info", "warning", "critical"]
    summary: str
    n_rows: int
    findings: list[Finding]
    drift: DriftScreenResult | None
    prediction_drift: FeatureDrift | None
    estimate: CBPEEstimate | None
    realised: RealisedPerformance | None
    prior: PriorShift | None
    slo: SLOReport | None
    quality: DataQuality | None
    plausibility: PlausibilityReport | None = None
    insufficient: list[InsufficientColumn] = Field(
        default_factory=list, description="what the window was too small to test soundly, and why (no finding)")

    @property
    def drifted_features(self) -> list[str]:
        return [f.subject for f in self.findings if f.kind == "feature_drift"]


def confirmed(feature: FeatureDrift, n_features: int, alpha: float) -> bool:
    """Evidently calls it drifted and the shift survives a Bonferroni correction."""
    p = feature.confirm_pvalue
    return feature.drifted and p is not None and p < alpha / max(n_features, 1)


def statistic_text(value: float) -> str:
    """A test statistic with three significant digits, trailing zeros kept: 0.2996 reads "0.300", not "0.3" —
    the short form would claim one digit, too coarse for a reader (or the post-mortem rubric) to tell which figure
    it was (0.25 to 0.35)."""
    return f"{value:#.3g}"


def check_feature_drift(profile: ReferenceProfile, current: pd.DataFrame,
                        th: MonitoringThresholds) -> tuple[list[Finding], DriftScreenResult]:
    """Confirmed drifted features, one finding each, and dataset drift when enough of them drifted.

    The Bonferroni count is every profiled column, tested or too sparse to test: the rule that decides which
    columns are testable must not depend on how many passed it."""
    n_columns = max(len(profile.columns), 1)
    drift = screen(profile, current, drift_share=th.evidently_drift_share, level=th.drift_alpha / n_columns)
    ok = [f for f in drift.features if confirmed(f, n_columns, th.drift_alpha)]
    findings = [Finding(kind="feature_drift", severity="warning", subject=f.name,
                        message=f"{f.name} drifted: {f.test} {statistic_text(f.statistic)} "
                                f"(threshold {f.threshold:g}), p={f.confirm_pvalue:.2g}",
                        evidence={"statistic": f.statistic, "threshold": f.threshold,
                                  "p_value": f.confirm_pvalue or 0.0})
                for f in ok]
    share = len(ok) / len(drift.features) if drift.features else 0.0
    if ok and share >= th.dataset_drift_share:
        findings.append(Finding(kind="dataset_drift", severity="critical", subject="dataset",
                                message=f"{len(ok)}/{len(drift.features)} features drifted", evidence={"share": share}))
    return findings, drift


def check_prediction_drift(score_profile: ReferenceProfile, scores: np.ndarray,
                           th: MonitoringThresholds) -> tuple[list[Finding], FeatureDrift | InsufficientColumn]:
    """Drift of the score distribution against the model's scores on the reference rows (or why the window is
    too small to test it)."""
    pred_drift = screen_scores(score_profile, scores, level=th.drift_alpha)
    if isinstance(pred_drift, InsufficientColumn) or not confirmed(pred_drift, 1, th.drift_alpha):
        return [], pred_drift
    return [Finding(kind="prediction_drift", severity="warning", subject="score",
                    message=f"score distribution drifted: {pred_drift.test} {statistic_text(pred_drift.statistic)}",
                    evidence={"statistic": pred_drift.statistic})], pred_drift


def check_estimate(scores: np.ndarray, reference_scores: np.ndarray, model_threshold: float,
                   th: MonitoringThresholds) -> tuple[list[Finding], CBPEEstimate]:
    """The label-free (CBPE) estimate of the headline metric, and a finding when it dropped."""
    estimate = cbpe_estimate(scores, reference_scores, model_threshold, metric=th.performance_metric,
                             max_drop=th.max_performance_drop, min_rows=th.min_rows_estimate)
    if not estimate.dropped:
        return [], estimate
    m = th.performance_metric
    return [Finding(kind="estimated_performance_drop", severity="warning", subject=m,
                    message=f"estimated {m} {estimate.current[m]:.3f} vs {estimate.reference[m]:.3f}"
                            " on reference (label-free, assumes calibrated scores)",
                    evidence={"estimated": estimate.current[m], "reference": estimate.reference[m]})], estimate


def check_prior_shift(scores: np.ndarray, reference_scores: np.ndarray, model_threshold: float,
                      labelled: pd.DataFrame | None, reference_labels: np.ndarray | None,
                      th: MonitoringThresholds) -> tuple[list[Finding], PriorShift]:
    """Predicted (and, with labels, actual) positive rates against the reference, and a finding when they moved."""
    actual = labelled["actual"].to_numpy() if labelled is not None and len(labelled) else None
    prior = prior_shift(scores, reference_scores, model_threshold, current_actual=actual,
                        reference_actual=reference_labels, max_abs_shift=th.max_prior_shift, alpha=th.prior_alpha)
    if not prior.shifted:
        return [], prior
    return [Finding(
        kind="prior_shift", severity="warning", subject="positive_rate",
        message=f"predicted positive rate {prior.predicted_positive_rate:.3f} vs "
                f"{prior.reference_predicted_positive_rate:.3f}"
                + (f"; actual {prior.actual_positive_rate:.3f} vs {prior.reference_actual_positive_rate:.3f}"
                   if prior.actual_positive_rate is not None else ""),
        evidence={"predicted_rate": prior.predicted_positive_rate,
                  "reference_rate": prior.reference_predicted_positive_rate})], prior


def check_realised(labelled: pd.DataFrame, reference_metrics: Mapping[str, float], model_threshold: float,
                   n_predictions: int, th: MonitoringThresholds) -> tuple[list[Finding], RealisedPerformance]:
    """Realised performance on the labels that arrived, and a finding when the headline metric dropped."""
    realised = realised_performance(labelled, reference_metrics, model_threshold, n_predictions=n_predictions,
                                    metric=th.performance_metric, max_drop=th.max_performance_drop,
                                    min_labels=th.min_labels)
    if not realised.dropped:
        return [], realised
    m = th.performance_metric
    return [Finding(kind="performance_drop", severity="critical", subject=m,
                    message=f"realised {m} {realised.metrics[m]:.3f} vs {realised.reference[m]:.3f} "
                            f"({realised.n_labelled} labels)",
                    evidence={"realised": realised.metrics[m], "reference": realised.reference[m]})], realised


def check_slos(current: pd.DataFrame, th: MonitoringThresholds) -> tuple[list[Finding], SLOReport]:
    """Per-version latency and error SLOs: a finding per breach, latency before errors for each version."""
    slo = slo_report(current, p95_latency_ms=th.p95_latency_ms, max_error_rate=th.max_error_rate,
                     min_requests=th.min_requests)
    findings = []
    for v in slo.breaches:
        if v.latency_breached:
            findings.append(Finding(kind="latency_slo", severity="warning", subject=v.version,
                                    message=f"version {v.version} p95 latency {v.p95_ms:.0f} ms > "
                                            f"{th.p95_latency_ms:.0f} ms",
                                    evidence={"p95_ms": v.p95_ms, "p99_ms": v.p99_ms}))
        if v.error_rate_breached:
            findings.append(Finding(kind="error_rate_slo", severity="critical", subject=v.version,
                                    message=f"version {v.version} error/fallback rate {v.error_rate:.1%} > "
                                            f"{th.max_error_rate:.1%}",
                                    evidence={"error_rate": v.error_rate, "errors": float(v.errors)}))
    return findings, slo


def run_check(reference_df: pd.DataFrame, reference_scores: np.ndarray | pd.Series | None,
              current_window_df: pd.DataFrame, *, model_threshold: float = 0.5,
              reference_metrics: Mapping[str, float] | None = None, labelled: pd.DataFrame | None = None,
              rejections: pd.DataFrame | int | None = None, reference_labels: np.ndarray | None = None,
              feature_columns: Sequence[str] | None = None, kinds: Mapping[str, ColumnKind] | None = None,
              profile: ReferenceProfile | None = None, score_profile: ReferenceProfile | None = None,
              thresholds: MonitoringThresholds | None = None, schema: TableSchema | None = None,
              plausibility: PlausibilityProfile | None = None) -> MonitoringResult:
    """Everything a scheduled triage needs about one window, as findings with severity and a summary.

    ``current_window_df`` is ``PredictionLog.predictions()`` (features as columns, plus ``score``,
    ``latency_ms``, ``role`` ...); ``reference_df`` the training/reference features and
    ``reference_scores`` the model's scores on it. The features and their kinds come from ``schema`` (or
    ``feature_columns``/``kinds``; without either, the reference's columns that the window also has).
    Pass ``profile``/``score_profile``/``plausibility`` (``build_plausibility_profile``) built once to skip
    the reference work; ``labelled`` is ``PredictionLog.labelled()``; ``reference_metrics`` the model's
    test metrics; ``reference_labels`` 0/1 labels of the reference rows for the actual-prior check.
    Each detector runs only when the window holds what it needs (enough rows, scores, labels, latencies).
    """
    th = thresholds or MonitoringThresholds()
    features, kinds = checked_columns(reference_df, current_window_df, schema, feature_columns, kinds)
    reference_nulls = {c: float(reference_df[c].isna().mean()) for c in features
                       if c in reference_df.columns and len(reference_df)}
    cur, n = current_window_df, len(current_window_df)
    findings: list[Finding] = []
    scores = cur["score"].to_numpy(float) if "score" in cur and n else None
    with_scores = scores is not None and reference_scores is not None
    insufficient = below_floor(features, n, th.min_rows_drift, with_scores=with_scores, metric=th.performance_metric)

    drift = None
    if n >= th.min_rows_drift and all(c in cur.columns for c in features):
        found, drift = check_feature_drift(profile or build_profile(reference_df, features, kinds), cur, th)
        findings, insufficient = findings + found, insufficient + drift.insufficient

    pred_drift = estimate = prior = None
    if with_scores and n >= th.min_rows_drift:
        found, pred_drift, estimate, prior, short = _score_checks(
            scores, np.asarray(reference_scores, float), score_profile, model_threshold, labelled, reference_labels, th)
        findings, insufficient = findings + found, insufficient + short

    realised = None
    if labelled is not None and reference_metrics is not None:
        found, realised = check_realised(labelled, reference_metrics, model_threshold, n, th)
        findings += found
        insufficient += [s for s in [labels_shortfall(realised.n_labelled, th.min_labels, th.performance_metric)] if s]

    slo = None
    if n and "latency_ms" in cur:
        found, slo = check_slos(cur, th)
        findings += found
    found, quality = check_quality(cur, rejections, features, th, reference_nulls)
    findings += found
    numeric = [c for c in features if kinds.get(c) == "numerical"]
    found, plausible = check_plausible(plausibility or build_plausibility_profile(reference_df, numeric), cur, th)
    findings += found

    status = max((f.severity for f in findings), key=SEVERITY_RANK.get, default="ok")
    return MonitoringResult(status=status, summary=summarise(n, findings, insufficient), n_rows=n, findings=findings,
                            drift=drift, prediction_drift=pred_drift, estimate=estimate, realised=realised, prior=prior,
                            slo=slo, quality=quality, plausibility=plausible, insufficient=insufficient)


def _score_checks(scores: np.ndarray, ref_scores: np.ndarray, score_profile: ReferenceProfile | None,
                  model_threshold: float, labelled: pd.DataFrame | None, reference_labels: np.ndarray | None,
                  th: MonitoringThresholds):
    """Prediction drift, the label-free estimate and prior shift, with what the window was too small for."""
    found, screened = check_prediction_drift(score_profile or build_score_profile(ref_scores), scores, th)
    more, estimate = check_estimate(scores, ref_scores, model_threshold, th)
    last, prior = check_prior_shift(scores, ref_scores, model_threshold, labelled, reference_labels, th)
    short = [screened] if isinstance(screened, InsufficientColumn) else []
    short += [s for s in [estimate_shortfall(len(scores), th.min_rows_estimate, th.performance_metric)] if s]
    short += [InsufficientColumn(name=name, check="prior_shift", n=n, reason=why) for name, n, why in (
        ("predicted_positive_rate", prior.n, prior.predicted_rate_shortfall),
        ("actual_positive_rate", len(labelled) if labelled is not None else 0, prior.actual_rate_shortfall)) if why]
    pred_drift = screened if isinstance(screened, FeatureDrift) else None
    return found + more + last, pred_drift, estimate, prior, short


def summarise(n_rows: int, findings: Sequence[Finding], insufficient: Sequence[InsufficientColumn] = ()) -> str:
    """A few lines a person can read in a chat message; what the window was too small to test, in one line."""
    lines = [f"OK: {n_rows} predictions checked, nothing flagged."] if not findings else [
        f"{len(findings)} finding(s) over {n_rows} predictions:"]
    drifted = [f.subject for f in findings if f.kind == "feature_drift"]
    if drifted:
        lines.append(f"- [warning] data drift in {', '.join(drifted)}")
    lines += [f"- [{f.severity}] {f.message}" for f in findings if f.kind != "feature_drift"]
    if insufficient:
        lines.append(not_enough_line(insufficient))
    return "\n".join(lines)
