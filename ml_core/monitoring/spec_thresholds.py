"""A spec's settings as the objects the monitoring check and the gate take."""

from __future__ import annotations

from ml_core.monitoring.check import MonitoringThresholds
from ml_core.spec.model_spec import ModelSpec


def monitoring_thresholds(spec: ModelSpec, p95_latency_ms: float, error_rate: float) -> MonitoringThresholds:
    """The check's thresholds for one model; ``p95_latency_ms``/``error_rate`` apply where its SLOs are unset."""
    return MonitoringThresholds(
        drift_alpha=spec.drift.alpha, plausibility_alpha=spec.drift.alpha, dataset_drift_share=spec.drift.dataset_share,
        max_null_share=spec.drift.max_null_share_increase, min_rows_drift=spec.drift.min_rows,
        p95_latency_ms=spec.slo.p95_latency_ms or p95_latency_ms, max_error_rate=spec.slo.error_rate
        if spec.slo.error_rate is not None else error_rate)
