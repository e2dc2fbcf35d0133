"""What triage knows (signals) and what it concludes (diagnosis): the contract between the graphs and the brains.

Signals hold only aggregates and summaries — findings, version ids, file paths, memory texts — never raw
customer rows, so they are safe to show an external LLM. Every fact a rule needs is a typed field filled by
the code that measured it (the monitoring pass, the serving state, the registry); the finding messages,
``recent_deploys`` lines and ``notes`` are prose for people and the LLM, and no rule reads them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.memory import MemoryHit
from agent.proposals import Evidence
from ml_core.deploy.workload import WorkloadHealth
from ml_core.monitoring.check import Finding
from ml_core.monitoring.decision_impact import DecisionImpact
from ml_core.monitoring.performance import PriorShift
from ml_core.monitoring.releases import RegisteredVersion, Release
from ml_core.monitoring.shadow import ShadowComparison
from ml_core.monitoring.shift_stats import FeatureShift
from ml_core.monitoring.slices import SliceRegression
from ml_core.monitoring.slo import NullField, RejectedField, VersionSLO
from ml_core.simulator.scenario import Category
from ml_core.version_diff import ReleaseDiff

# investigate_infrastructure: page the platform's owner with the replica states and events; nothing is retrained
# or rolled back, because the model is not the cause.
Action = Literal["none", "retrain", "rollback", "fix_data", "retune_threshold", "investigate_infrastructure"]


class DeploySnapshot(BaseModel):
    """Serving state at triage time."""

    champion: str | None = None
    canary: str | None = None
    canary_weight: float = 0.0
    previous_champion: str | None = None
    running: bool = False
    ready: bool = False
    updated_at: float | None = None


class TriageSignals(BaseModel):
    """Everything gathered for one model over one window."""

    model_config = ConfigDict(extra="forbid")

    model: str
    window_since: float
    window_until: float
    n_predictions: int = 0
    n_labelled: int = 0
    deploy: DeploySnapshot = Field(default_factory=DeploySnapshot)
    findings: list[Finding] = Field(default_factory=list, description="from drift, performance, SLO, quality checks")
    summary: str = ""
    drift_report_dir: str | None = None
    drift_plots: list[str] = Field(default_factory=list, description="PNG per drifted feature")
    realised: dict[str, float] = Field(default_factory=dict, description="metrics on labelled records, if any")
    estimated: dict[str, float] = Field(default_factory=dict, description="label-free estimate (CBPE)")
    reference: dict[str, float] = Field(default_factory=dict, description="the champion's test metrics")
    realised_by_version: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="per serving version: realised f1 of its own decisions and label count n")
    previous_reference: dict[str, float] = Field(
        default_factory=dict, description="test metrics of the champion a release replaced in this window: a "
        "promoted bad model matches its own reference, so the one it replaced is the yardstick")
    release: Release | None = Field(None, description="the version that went live in the window: which, how, when")
    release_diff: ReleaseDiff | None = Field(None, description="the release against the version it replaced or "
                                             "runs beside: training runs, data fingerprints, params, gate verdict")
    shadow: ShadowComparison | None = Field(None, description="the release against the version it replaced or runs "
                                            "beside, scored on the same records (shadow evaluation)")
    recent_versions: list[RegisteredVersion] = Field(
        default_factory=list, description="the most recently registered versions, newest first, flagged if "
        "registered in the window")
    slo_by_version: list[VersionSLO] = Field(
        default_factory=list, description="per version the router meant to use: requests, p95, errors, timeouts "
        "and which SLO each breaches, from the monitoring pass")
    importance: dict[str, float] = Field(
        default_factory=dict, description="the champion's reliance on each feature: its share of the permutation "
        "importance (sums to 1); empty when unknown")
    slice_regressions: list[SliceRegression] = Field(
        default_factory=list, description="slices whose realised error rate rose above the champion's held-out rate")
    prior: PriorShift | None = Field(None, description="predicted and (with labels) actual positive rates, current "
                                                       "and reference")
    rejected_fields: list[RejectedField] = Field(
        default_factory=list, description="the (field, problem) pairs the service rejected requests for, most "
        "frequent first")
    null_share: dict[str, float] = Field(default_factory=dict, description="share of null values per feature among "
                                                                           "answered rows")
    null_fields: list[NullField] = Field(default_factory=list, description="features with nulls among the answered "
                                         "rows: how many, and the earliest such row's time")
    recent_deploys: list[str] = Field(default_factory=list, description="one line per recent version/alias change, "
                                                                        "for people")
    similar_incidents: list[MemoryHit] = Field(default_factory=list)
    workload: WorkloadHealth | None = Field(None, description="the serving replicas as the platform sees them "
                                            "(pods, restarts, events); None when the backend cannot tell")
    notes: list[str] = Field(default_factory=list, description="results of extra tools the investigation called, "
                                                               "as text for people and the LLM")
    feature_shifts: list[FeatureShift] = Field(
        default_factory=list, description="each drifted feature's statistics, reference vs window, and the slices "
                                          "it moved most in (for the post-mortem's 'what changed')")
    decisions: DecisionImpact | None = Field(None, description="wrong decisions by kind among the labelled ones, "
                                                               "fallback answers")

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}


class Diagnosis(BaseModel):
    """The conclusion: is something wrong, what kind, who is to blame, and what to do."""

    model_config = ConfigDict(extra="forbid")

    detected: bool
    category: Category = "none"
    culprit: list[str] = Field(default_factory=list, description="features or versions to blame")
    action: Action = "none"
    summary: str = Field(description="two or three sentences for a person")
    evidence: list[Evidence] = Field(default_factory=list)
    confidence: float = Field(0.5, ge=0, le=1)
    brain: str = Field("offline policy", description="which brain concluded this")
    awaiting_labels: bool = Field(False, description="a retrain to run once labels confirm the harm: too few "
                                  "have arrived to measure it")
