"""The data-quality findings of one window: rejected requests, nulls that got through, implausible values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from ml_core.monitoring.findings import Finding
from ml_core.monitoring.plausibility import PlausibilityProfile, PlausibilityReport, check_plausibility
from ml_core.monitoring.slo import DataQuality, data_quality
from ml_core.monitoring.thresholds import MonitoringThresholds

CRITICAL_SHARE = 0.5  # implausible in most rows: the column is unusable, not merely noisy


def check_quality(current: pd.DataFrame, rejections: pd.DataFrame | int | None, features: Sequence[str],
                  th: MonitoringThresholds, reference_null_share: Mapping[str, float] | None = None
                  ) -> tuple[list[Finding], DataQuality]:
    """Rejected requests and nulls that got through: a rejection spike, and the worst null share (above the
    reference's, for columns that had gaps in training)."""
    quality = data_quality(current, rejections, features, max_rejection_rate=th.max_rejection_rate,
                           max_null_share=th.max_null_share, min_requests=th.min_requests,
                           reference_null_share=reference_null_share, alpha=th.drift_alpha)
    findings = []
    if quality.rejection_breached:
        findings.append(Finding(kind="rejection_spike", severity="critical", subject="requests",
                                message=f"{quality.rejection_rate:.1%} of rows rejected ({quality.n_rejected})",
                                evidence={"rejection_rate": quality.rejection_rate}))
    if quality.null_breached:
        ref = quality.reference_null_share
        worst = quality.null_breached_columns[0]
        was = f" (reference {ref[worst]:.1%})" if ref.get(worst) else ""
        findings.append(Finding(kind="null_share", severity="warning", subject=worst,
                                message=f"{worst} is null in {quality.null_share[worst]:.1%} of rows{was}",
                                evidence={"null_share": quality.null_share[worst],
                                          "reference_null_share": ref.get(worst, 0.0)}))
    return findings, quality


def check_plausible(profile: PlausibilityProfile, current: pd.DataFrame, th: MonitoringThresholds
                    ) -> tuple[list[Finding], PlausibilityReport]:
    """Values a working feed cannot produce (``plausibility``): one ``implausible_values`` finding per problem,
    its subject the column (or 'x+y' for a broken pair) and ``columns`` the ones to blame: of a broken pair, the
    one that moved while its partner held when the check could tell which, else both."""
    report = check_plausibility(profile, current, alpha=th.plausibility_alpha, min_share=th.min_implausible_share)
    findings = []
    for p in report.problems:
        evidence = {"count": float(p.count), "n": float(p.n), "share": p.share, "reference_share": p.reference_share,
                    "p_value": p.p_value}
        if p.first_ts is not None:
            evidence["first_ts"] = p.first_ts
        if p.value is not None:
            evidence["value"] = p.value
        findings.append(Finding(kind="implausible_values", severity="critical" if p.share >= CRITICAL_SHARE
                                else "warning", subject=p.subject, problem=p.kind,
                                columns=[p.suspect] if p.suspect else p.columns,
                                message=f"implausible values ({p.kind.replace('_', ' ')}): {p.detail}",
                                evidence=evidence))
    return findings, report
