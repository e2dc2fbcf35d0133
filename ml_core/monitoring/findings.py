"""A monitoring finding: what one detector concluded about a window, as typed fields the policy reads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["info", "warning", "critical"]
FindingKind = Literal["feature_drift", "dataset_drift", "prediction_drift", "performance_drop",
                      "estimated_performance_drop", "prior_shift", "latency_slo", "error_rate_slo",
                      "rejection_spike", "null_share", "implausible_values"]
SEVERITY_RANK = {"ok": 0, "info": 1, "warning": 2, "critical": 3}


class Finding(BaseModel):
    kind: FindingKind
    severity: Severity
    subject: str = Field(description="feature, metric or version the finding is about ('x+y' for a column pair)")
    message: str
    evidence: dict[str, float] = Field(default_factory=dict)
    columns: list[str] = Field(default_factory=list,
                               description="input columns to blame, most likely first (implausible_values)")
    problem: str = Field("", description="implausible_values: stuck_constant, zero_jump, out_of_range or "
                                         "broken_relation")
