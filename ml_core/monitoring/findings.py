"""What a monitoring check reports (a finding: kind, severity, subject, message, evidence) and the thresholds it
alerts at; apart from ``check`` so detectors can live in modules of their own."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "warning", "critical"]
FindingKind = Literal["feature_drift", "dataset_drift", "prediction_drift", "performance_drop",
                      "estimated_performance_drop", "prior_shift", "latency_slo", "error_rate_slo",
                      "rejection_spike", "null_share"]
SEVERITY_RANK = {"ok": 0, "info": 1, "warning": 2, "critical": 3}


class MonitoringThresholds(BaseModel):
    """Alerting thresholds for one scheduled check."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    drift_alpha: float = Field(0.01, description="family-wise false-alarm rate per check for drift (Bonferroni)")
    dataset_drift_share: float = Field(0.3, description="confirmed drifted share that counts as dataset drift")
    evidently_drift_share: float = Field(0.5, description="Evidently's own dataset verdict share")
    performance_metric: Literal["f1", "auc", "precision", "recall"] = "f1"
    max_performance_drop: float = Field(0.08, description="absolute drop vs reference that is a finding")
    min_labels: int = 100
    min_rows_estimate: int = 100
    max_prior_shift: float = Field(0.05, description="absolute change of a positive rate")
    prior_alpha: float = 0.01
    p95_latency_ms: float = 250.0
    max_error_rate: float = 0.01
    max_rejection_rate: float = 0.02
    max_null_share: float = 0.05
    min_requests: int = 20
    min_rows_drift: int = 30


class Finding(BaseModel):
    kind: FindingKind
    severity: Severity
    subject: str = Field(description="feature, metric or version the finding is about")
    message: str
    evidence: dict[str, float] = Field(default_factory=dict)
