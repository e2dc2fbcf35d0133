"""Read-only monitoring tools over a model's prediction log: drift, performance, SLOs.

Drift and performance run the same monitoring check the scheduled triage runs (``ml_core.watch``), with
the SLO thresholds from settings; only aggregates come back, never the window's rows.
"""

from __future__ import annotations

from agent.context import OpsContext
from ml_core.monitoring.slo import VersionSLO, data_quality, slo_report
from ml_core.watch import WatchResult
from tools.common import (
    ToolInputError,
    errors_as_data,
    iso,
    metrics,
    num,
    open_log,
    reference_metrics,
    require_model,
    window,
)
from tools.results import (
    DriftedFeature,
    DriftReport,
    FindingBrief,
    PerformanceReport,
    PriorInfo,
    SLOStatus,
    VersionSLOBrief,
)

MAX_FEATURES = 20
MAX_PLOTS = 10
PERFORMANCE_KINDS = ("performance_drop", "estimated_performance_drop", "prior_shift")


def _empty(model: str, minutes: float, rejected: int = 0) -> ToolInputError:
    extra = f" ({rejected} requests were rejected at the door: see slo_status)" if rejected else ""
    return ToolInputError(f"no predictions for '{model}' in the last {minutes:g} minutes{extra}; widen "
                          f"window_minutes, or check with model_status that the service is running and gets traffic")


def _watch(ctx: OpsContext, model: str, minutes: float, write_report: bool) -> WatchResult:
    require_model(ctx, model)
    since, until = window(ctx, minutes)
    if not ctx.has_prediction_log(model):  # check_window would create an empty log
        raise _empty(model, minutes)
    watched = ctx.check_window(model, since=since, until=until, write_report=write_report)
    if watched.result.n_rows == 0:
        raise _empty(model, minutes, watched.result.quality.n_rejected if watched.result.quality else 0)
    return watched


@errors_as_data()
def drift_report(ctx: OpsContext, model: str, window_minutes: float = 60) -> DriftReport:
    """Data drift in a model's recent traffic against its training data: which features drifted (test,
    statistic, threshold, p-value), the share of drifted features, prediction (score) drift, and the paths of
    the Evidently HTML report and one PNG plot per drifted feature. Use it when quality drops or traffic changes.

    Args:
        model: registered model name, e.g. "churn".
        window_minutes: how far back to look, in minutes (default 60).
    """
    watched = _watch(ctx, model, window_minutes, write_report=True)
    r = watched.result
    screened = {f.name: f for f in r.drift.features} if r.drift else {}
    confirmed = [f for f in r.findings if f.kind == "feature_drift"]
    drifted = [DriftedFeature(feature=f.subject, test=screened[f.subject].test if f.subject in screened else None,
                              statistic=num(f.evidence.get("statistic")), threshold=num(f.evidence.get("threshold")),
                              p_value=num(f.evidence.get("p_value"), 6)) for f in confirmed[:MAX_FEATURES]]
    names = {f.subject for f in confirmed}
    report = watched.report
    return DriftReport(
        model=model, champion=watched.version, since=iso(watched.since), until=iso(watched.until), n_rows=r.n_rows,
        n_features_checked=len(screened), drifted=drifted,
        drifted_share=(num(len(confirmed) / len(screened)) or 0.0) if screened else 0.0,
        dataset_drift=any(f.kind == "dataset_drift" for f in r.findings),
        unconfirmed=[n for n, f in screened.items() if f.drifted and n not in names][:MAX_FEATURES],
        prediction_drift=any(f.kind == "prediction_drift" for f in r.findings),
        report_html=str(report.html) if report and report.html else None,
        report_dir=str(report.directory) if report else None,
        plots=[str(p) for p in report.plots[:MAX_PLOTS]] if report else [],
        summary=r.summary if report else r.summary + "\n(no Evidently report: fewer than 30 rows in the window)")


@errors_as_data()
def performance(ctx: OpsContext, model: str, window_minutes: float = 60) -> PerformanceReport:
    """Model quality in production over a recent window: realised F1/AUC/precision/recall on predictions whose
    delayed labels have arrived, a label-free estimate from calibrated scores (CBPE), the champion's test metrics
    for reference, and prior (positive-rate) shift. Use it to tell whether the model got worse, and by how much.

    Args:
        model: registered model name, e.g. "churn".
        window_minutes: how far back to look, in minutes (default 60).
    """
    watched = _watch(ctx, model, window_minutes, write_report=False)
    r = watched.result
    headline = ("f1", "auc", "precision", "recall")
    reference = (r.realised.reference if r.realised and r.realised.reference
                 else metrics(reference_metrics(ctx.registry.version(model, watched.version)), headline))
    prior = None
    if r.prior is not None:
        p = r.prior
        prior = PriorInfo(predicted_positive_rate=num(p.predicted_positive_rate),
                          reference_predicted_positive_rate=num(p.reference_predicted_positive_rate),
                          actual_positive_rate=num(p.actual_positive_rate),
                          reference_actual_positive_rate=num(p.reference_actual_positive_rate), shifted=p.shifted)
    realised = r.realised if r.realised and r.realised.n_labelled else None
    return PerformanceReport(
        model=model, champion=watched.version, n_rows=r.n_rows, n_labelled=realised.n_labelled if realised else 0,
        label_coverage=(num(realised.label_coverage) or 0.0) if realised else 0.0,
        realised=metrics(realised.metrics, headline) if realised else {},
        realised_drop=num(realised.drop) if realised else None,
        estimated=metrics(r.estimate.current, headline) if r.estimate else {},
        estimated_drop=num(r.estimate.drop) if r.estimate else None, reference=metrics(reference, headline),
        prior=prior, findings=[FindingBrief(kind=f.kind, severity=f.severity, subject=f.subject, message=f.message)
                               for f in r.findings if f.kind in PERFORMANCE_KINDS])


def _slo(v: VersionSLO) -> VersionSLOBrief:
    return VersionSLOBrief(version=v.version, n=v.n, p95_ms=num(v.p95_ms, 1), p99_ms=num(v.p99_ms, 1),
                           error_rate=num(v.error_rate) or 0.0, latency_breached=v.latency_breached,
                           error_rate_breached=v.error_rate_breached)


@errors_as_data()
def slo_status(ctx: OpsContext, model: str, window_minutes: float = 60) -> SLOStatus:
    """Service levels over a recent window, per served version: p95/p99 latency, error (fallback) rate, which
    versions breach the SLOs, and the share of requests rejected as invalid input. Use it for slow or failing
    releases and broken data feeds.

    Args:
        model: registered model name, e.g. "churn".
        window_minutes: how far back to look, in minutes (default 60).
    """
    require_model(ctx, model)
    since, until = window(ctx, window_minutes)
    with open_log(ctx, model) as log:
        if log is None:
            raise _empty(model, window_minutes)
        rows = log.predictions(since, until, with_features=False)
        rejections = log.rejections(since, until)
    if not len(rows) and not len(rejections):
        raise _empty(model, window_minutes)
    th = ctx.thresholds(model)
    quality = data_quality(rows, rejections, [], max_rejection_rate=th.max_rejection_rate,
                           min_requests=th.min_requests)
    slo = slo_report(rows, p95_latency_ms=th.p95_latency_ms, max_error_rate=th.max_error_rate,
                     min_requests=th.min_requests) if len(rows) else None
    breaches = [] if slo is None else (
        [f"v{v.version} p95 {v.p95_ms:.0f} ms > {th.p95_latency_ms:g} ms" for v in slo.breaches if v.latency_breached]
        + [f"v{v.version} error rate {v.error_rate:.1%} > {th.max_error_rate:.1%}" for v in slo.breaches
           if v.error_rate_breached])
    if quality.rejection_breached:
        breaches.append(f"{quality.rejection_rate:.1%} of requests rejected > {th.max_rejection_rate:.0%}")
    return SLOStatus(model=model, n_requests=len(rows), p95_budget_ms=th.p95_latency_ms,
                     max_error_rate=th.max_error_rate, overall=_slo(slo.overall) if slo else None,
                     versions=[_slo(v) for v in slo.versions[:10]] if slo else [], breaches=breaches,
                     n_rejected=quality.n_rejected, rejection_rate=num(quality.rejection_rate) or 0.0,
                     rejection_breached=quality.rejection_breached)
