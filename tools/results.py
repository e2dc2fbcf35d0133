"""The small typed results tools return: aggregates, ids and paths only, never raw customer rows.

Every result carries ``error``: when set, the tool could not answer as asked and the message says what
to do instead (the other fields are then empty).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ToolResult(BaseModel):
    error: str | None = Field(None, description="why the tool could not answer, and what to do instead")


# ---- registry and deployment ------------------------------------------------------------------
class VersionBrief(BaseModel):
    version: str
    aliases: list[str] = Field(default_factory=list)
    ready_for_deploy: bool = False
    created: str | None = None


class ModelBrief(BaseModel):
    name: str
    n_versions: int
    champion: str | None = None
    challenger: str | None = None
    latest: list[VersionBrief] = Field(default_factory=list, description="newest versions first")


class ModelList(ToolResult):
    models: list[ModelBrief] = Field(default_factory=list)
    more_models: int = Field(0, description="models left out to keep the answer short")


class DeploymentInfo(BaseModel):
    backend: str
    running: bool
    ready: bool
    ready_reason: str = ""
    url: str | None = None
    champion: str | None = None
    canary: str | None = None
    canary_weight: float = 0.0
    previous_champion: str | None = None
    updated: str | None = None


class ModelStatus(ToolResult):
    model: str = ""
    champion: str | None = Field(None, description="registry alias champion")
    challenger: str | None = Field(None, description="registry alias challenger (passed the gate)")
    ready_for_deploy: list[str] = Field(default_factory=list, description="versions tagged ready_for_deploy")
    deployment: DeploymentInfo | None = None


class VersionFacts(BaseModel):
    version: str
    aliases: list[str] = Field(default_factory=list)
    created: str | None = None
    test_metrics: dict[str, float] = Field(default_factory=dict)
    parent_version: str | None = None
    data_fingerprint: str | None = None
    training_run_id: str | None = None
    gate: str | None = None
    ready_for_deploy: bool = False
    note: str | None = Field(None, description="scenario/fault/retrain reason tags, if any")


class VersionComparison(ToolResult):
    model: str = ""
    a: VersionFacts | None = None
    b: VersionFacts | None = None
    delta: dict[str, float] = Field(default_factory=dict, description="b minus a, per test metric")
    same_training_data: bool | None = None
    note: str | None = None


class TrainingRun(ToolResult):
    model: str = ""
    version: str = ""
    run_id: str | None = None
    run_name: str | None = None
    status: str | None = None
    started: str | None = None
    start_time: float | None = Field(None, description="unix seconds")
    duration_seconds: float | None = None
    data_fingerprint: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict, description="final value of each metric")
    note: str | None = None


class DeployEvent(BaseModel):
    version: str
    created: str | None = None
    aliases: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


class DeployHistory(ToolResult):
    model: str = ""
    versions: list[DeployEvent] = Field(default_factory=list, description="newest first")
    champion: str | None = None
    canary: str | None = None
    canary_weight: float = 0.0
    previous_champion: str | None = None
    routing_updated: str | None = Field(None, description="when serving routing last changed")


class FeatureShare(BaseModel):
    feature: str
    rank: int = Field(description="1 = the column the model relies on most")
    share: float = Field(description="this column's part of the model's reliance, 0..1 (shares sum to 1)")
    drop: float = Field(description="how much the metric worsens when the column is shuffled")
    drop_std: float = Field(description="spread of that worsening over the shuffles")


class FeatureImportanceReport(ToolResult):
    model: str = ""
    version: str = ""
    measured_on_version: str | None = Field(None, description="the version whose weights were measured (a "
                                            "hotfix or fault release shares its parent's)")
    metric: str = ""
    base_metric: float | None = Field(None, description="the metric on the unshuffled rows")
    n_rows: int = 0
    rows_from: str = Field("", description="'test split' (held-out rows) or 'reference' (training rows)")
    features: list[FeatureShare] = Field(default_factory=list, description="most important first")
    more_features: int = Field(0, description="columns left out to keep the answer short")
    share_left_out: float = Field(0.0, description="the combined share of the columns left out")


# ---- monitoring -------------------------------------------------------------------------------
class FindingBrief(BaseModel):
    kind: str
    severity: str
    subject: str
    message: str


class DriftedFeature(BaseModel):
    feature: str
    test: str | None = None
    statistic: float | None = None
    threshold: float | None = None
    p_value: float | None = None


class DriftReport(ToolResult):
    model: str = ""
    champion: str | None = None
    since: str | None = None
    until: str | None = None
    n_rows: int = 0
    n_features_checked: int = 0
    drifted: list[DriftedFeature] = Field(default_factory=list, description="confirmed (Bonferroni) drift")
    drifted_share: float = 0.0
    dataset_drift: bool = False
    unconfirmed: list[str] = Field(default_factory=list, description="flagged by Evidently's default test only")
    prediction_drift: bool = False
    report_html: str | None = None
    report_dir: str | None = None
    plots: list[str] = Field(default_factory=list, description="PNG per drifted feature")
    summary: str = ""


class PriorInfo(BaseModel):
    predicted_positive_rate: float | None = None
    reference_predicted_positive_rate: float | None = None
    actual_positive_rate: float | None = None
    reference_actual_positive_rate: float | None = None
    shifted: bool = False


class PerformanceReport(ToolResult):
    model: str = ""
    champion: str | None = None
    n_rows: int = 0
    n_labelled: int = 0
    label_coverage: float = 0.0
    realised: dict[str, float] = Field(default_factory=dict, description="on records whose labels arrived")
    realised_drop: float | None = None
    estimated: dict[str, float] = Field(default_factory=dict, description="label-free CBPE estimate")
    estimated_drop: float | None = None
    reference: dict[str, float] = Field(default_factory=dict, description="the champion's test metrics")
    prior: PriorInfo | None = None
    findings: list[FindingBrief] = Field(default_factory=list)


class VersionSLOBrief(BaseModel):
    version: str
    n: int
    p95_ms: float | None = None
    p99_ms: float | None = None
    error_rate: float = 0.0
    latency_breached: bool = False
    error_rate_breached: bool = False


class SLOStatus(ToolResult):
    model: str = ""
    n_requests: int = 0
    p95_budget_ms: float = 0.0
    max_error_rate: float = 0.0
    overall: VersionSLOBrief | None = None
    versions: list[VersionSLOBrief] = Field(default_factory=list)
    breaches: list[str] = Field(default_factory=list)
    n_rejected: int = 0
    rejection_rate: float = 0.0
    rejection_breached: bool = False


# ---- memory, web, proposals -------------------------------------------------------------------
class MemoryBrief(BaseModel):
    id: str
    kind: str
    model: str
    similarity: float
    created: str | None = None
    text: str
    metadata: dict[str, str] = Field(default_factory=dict)


class IncidentRecall(ToolResult):
    query: str = ""
    hits: list[MemoryBrief] = Field(default_factory=list)


class WebHit(BaseModel):
    title: str
    url: str
    snippet: str


class WebResults(ToolResult):
    query: str = ""
    results: list[WebHit] = Field(default_factory=list)


class ProposalFiled(ToolResult):
    proposal_id: str | None = None
    kind: str | None = None
    title: str | None = None
    summary: str | None = None
    filed: bool = False
    message: str = ""
