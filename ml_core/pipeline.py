"""The retrain pipeline: data window → train → evaluate → gate → register as challenger."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ml_core.data.schema import TableSchema
from ml_core.data.tables import customer_of, fingerprint, split_frame
from ml_core.data.validation import DataValidationError, validate_frame
from ml_core.distributed import MAX_NPROC, train_and_register_nproc
from ml_core.distributed.job import JobRequest
from ml_core.evaluation import EvaluationReport, evaluate
from ml_core.failpoints import failpoint
from ml_core.gate import GatePolicy, GateVerdict, gate
from ml_core.jobs import TrainJobResult, end_orphan_runs
from ml_core.monitoring.plausibility import PlausibilityProblem, build_plausibility_profile, check_plausibility
from ml_core.predlog import PredictionLog
from ml_core.registry import CHALLENGER, CHAMPION, PROPOSAL_TAG, Registry, VersionInfo
from ml_core.training import EpochCallback, TrainConfig

Step = Callable[[str], None]
# Trains elsewhere (a Kubernetes job: agent.k8s_training) what ``request`` describes on ``data``, registers one
# version there and returns its number. Called again for the same request after a crash, it must follow the
# training it started rather than start another.
RemoteTrainer = Callable[[pd.DataFrame, JobRequest], str]
MIN_FAIR_HOLDOUT = 50  # below this a metric difference between two versions is mostly noise


class RetrainRequest(BaseModel):
    """What to retrain on and what the new version must beat."""

    model_config = ConfigDict(extra="forbid")

    model_name: str
    window_since: float | None = Field(default=None, description="unix time; production records from here")
    window_until: float | None = Field(default=None, description="unix time; production records before this")
    include_reference: bool = Field(default=True, description="also train on the original reference data")
    min_window_rows: int = Field(default=50, ge=0, description="refuse to retrain on fewer labelled records")
    plausibility_alpha: float = Field(default=0.01, gt=0, lt=0.5,
                                      description="false-alarm rate of the window's plausibility checks")
    allow_implausible: bool = Field(default=False, description="train even on a window that fails the plausibility "
                                    "checks (a deliberate upstream change the reference does not know yet)")
    config: TrainConfig = Field(default_factory=TrainConfig)
    nproc: int = Field(default=1, ge=1, le=MAX_NPROC, description="training processes: 1 trains in this process; "
                       "more run DDP through torchrun (ml_core.distributed)")
    policy: GatePolicy = Field(default_factory=GatePolicy)
    reason: str = ""
    proposal_id: str = Field(default="", description="the approved proposal this retrain carries out: the version "
                             "is tagged with it, and a retrain resumed after a crash reuses that version")


class RetrainResult(BaseModel):
    """Every id and figure a post-mortem needs."""

    model_name: str
    version: str
    run_id: str
    parent_version: str | None
    data_fingerprint: str
    rows_reference: int
    rows_window: int
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    verdict: GateVerdict
    alias: str | None = Field(description="'challenger' when the gate passed, else None")
    ready_for_deploy: bool
    seconds: float
    resumed: bool = Field(default=False, description="the version was registered before a crash; only re-gated")


class ResumeConflictError(RuntimeError):
    """A resumed retrain cannot go on safely (its window's data changed since the version was trained)."""


class ImplausibleWindowError(DataValidationError):
    """The data window holds values a working feed cannot produce; training on it would learn the breakage."""

    def __init__(self, message: str, problems: list[PlausibilityProblem]):
        super().__init__(message)
        self.problems = problems


def refuse_implausible_window(window: pd.DataFrame, reference: pd.DataFrame, schema: TableSchema,
                              alpha: float) -> None:
    """Raise ``ImplausibleWindowError`` naming each column and problem when the window fails the plausibility
    checks learned from ``reference`` (``ml_core.monitoring.plausibility``)."""
    profile = build_plausibility_profile(reference, schema.numeric_names)
    problems = check_plausibility(profile, window, alpha=alpha).problems
    if not problems:
        return
    lines = "; ".join(f"{p.subject}: {p.kind} in {p.share:.1%} of {p.n} rows ({p.detail})" for p in problems)
    columns = list(dict.fromkeys(c for p in problems for c in p.columns))
    raise ImplausibleWindowError(
        f"retrain refused: the data window fails the plausibility checks in {', '.join(columns)}: {lines}. "
        "Training on broken data would learn the breakage: fix the feed, then retrain on a window that starts "
        "after the fix", problems)


def window_frame(log: PredictionLog, since: float | None, until: float | None,
                 schema: TableSchema) -> pd.DataFrame:
    """Labelled production records in the window, shaped like the training table."""
    df = log.labelled_features(since, until)
    if not len(df):
        return pd.DataFrame(columns=[schema.id_column, *schema.feature_names, schema.label])
    df[schema.label] = df.pop("actual").map({1: schema.positive_label, 0: schema.negative_label or "other"})
    df[schema.id_column or "record_id"] = df.pop("record_id")
    return validate_frame(df, schema, require_label=True, quarantine=True).clean


def champion_reference(registry: Registry, model_name: str, champion: VersionInfo | None) -> pd.DataFrame:
    """The rows the champion trained on (saved with its bundle): what a retrain keeps besides the window."""
    if champion is None:
        raise DataValidationError(f"model '{model_name}' has no champion to take reference data from; "
                                  "train one first or pass the reference data")
    path = registry.bundle_dir(model_name, champion.version) / "reference.parquet"
    if not path.exists():
        raise DataValidationError(f"{model_name} v{champion.version} has no training data saved with it; "
                                  "retrain with include_reference off, or train a version with opsagent")
    return pd.read_parquet(path)


def _saved_reference(registry: Registry, model_name: str, champion: VersionInfo | None) -> pd.DataFrame | None:
    """The champion's training rows when saved with it, else None (nothing to judge a window against)."""
    try:
        return champion_reference(registry, model_name, champion)
    except DataValidationError:
        return None


def training_ids(registry: Registry, model_name: str, version: str, schema: TableSchema) -> set[str] | None:
    path = registry.bundle_dir(model_name, version) / "reference.parquet"
    if not path.exists() or not schema.id_column:
        return None
    return set(pd.read_parquet(path, columns=[schema.id_column])[schema.id_column].astype(str))


def gate_against_champion(registry: Registry, model_name: str, job: TrainJobResult, policy: GatePolicy, *,
                          champion: VersionInfo | None = None, on_step: Step | None = None,
                          schema: TableSchema
                          ) -> tuple[GateVerdict, EvaluationReport, EvaluationReport | None]:
    """Judge a freshly trained version against the champion on rows neither was trained on.

    Tags the version ``ready_for_deploy`` and ``gate``; a passing version becomes ``challenger``.
    """
    return gate_version(registry, model_name, job.version, job.train.model, job.split.test, policy,
                        champion=champion, on_step=on_step, schema=schema)


def gate_version(registry: Registry, model_name: str, version: str, model: Any, holdout: pd.DataFrame,
                 policy: GatePolicy, *, champion: VersionInfo | None = None, on_step: Step | None = None,
                 schema: TableSchema) -> tuple[GateVerdict, EvaluationReport, EvaluationReport | None]:
    """The gate on ``model`` (registered as ``version``) and its held-out rows; see ``gate_against_champion``.
    Deterministic, so a resumed remediation may judge the same version again."""
    step = on_step or (lambda _msg: None)
    champion_report = None
    if champion is not None:
        # The champion must not be judged on rows it trained on: that would favour it unfairly.
        seen = training_ids(registry, model_name, champion.version, schema)
        if seen is not None and schema.id_column:
            holdout = holdout[~customer_of(holdout[schema.id_column]).isin(seen)]
    if len(holdout) < MIN_FAIR_HOLDOUT:
        raise DataValidationError(
            f"only {len(holdout)} held-out rows are unseen by the champion v{champion.version if champion else '?'}: "
            "too few to judge the two fairly. Retrain on data beyond the champion's own training rows (the spec's "
            "table, or a window of labelled production records)")
    step(f"evaluating the new version and the champion on the same {len(holdout)} held-out rows")
    challenger_report = evaluate(model, holdout, schema)
    if champion is not None:
        champion_report = evaluate(registry.load(model_name, champion.version), holdout, schema)
    verdict = gate(champion_report, challenger_report, policy)
    step("gate " + ("passed" if verdict.passed else "failed") + ": " + "; ".join(verdict.reasons))
    registry.mark_ready(model_name, version, verdict.passed)
    registry.set_tag(model_name, version, "gate", "passed" if verdict.passed else "failed")
    if verdict.passed:
        registry.set_alias(model_name, CHALLENGER, version)
    return verdict, challenger_report, champion_report


def retrain(registry: Registry, log: PredictionLog | None, request: RetrainRequest, *,
            reference: pd.DataFrame | None = None, on_epoch: EpochCallback | None = None,
            on_step: Step | None = None, schema: TableSchema, trainer: RemoteTrainer | None = None
            ) -> RetrainResult:
    """Train a challenger on reference + window data (here, or with ``trainer`` elsewhere), gate it against the
    champion, register it."""
    start = time.perf_counter()
    step = on_step or (lambda _msg: None)
    champion = registry.alias(request.model_name, CHAMPION)
    step("collecting the data window")
    window = window_frame(log, request.window_since, request.window_until, schema) if log else pd.DataFrame()
    if log is not None and (request.window_since or request.window_until) and len(window) < request.min_window_rows:
        raise DataValidationError(
            f"only {len(window)} labelled production records in the window (need {request.min_window_rows}); "
            "wait for more delayed labels or widen the window")
    ref = None
    if request.include_reference:
        ref = reference if reference is not None else champion_reference(registry, request.model_name, champion)
    if len(window) and not request.allow_implausible:
        step("checking the window's values against the reference")
        baseline = ref if ref is not None else _saved_reference(registry, request.model_name, champion)
        if baseline is not None:
            refuse_implausible_window(window, baseline, schema, request.plausibility_alpha)
    parts = [p for p in (ref, window) if p is not None and len(p)]
    if not parts:
        raise DataValidationError("no training data: the window is empty and include_reference is off")
    data = pd.concat(parts, ignore_index=True)
    if champion is not None and reference is None and not len(window):
        # Only the champion's own training rows: no held-out row would be unseen by it, so no fair gate exists.
        # Refuse before training, so no unusable version is registered.
        raise DataValidationError(
            f"nothing to retrain {request.model_name} on but the rows champion v{champion.version} trained on, so "
            "no held-out row is unseen by the champion and the gate cannot judge the two fairly. Give a window of "
            "labelled production records, or the spec's table as reference")

    done = _registered_for(registry, request, remote=trainer is not None)
    tags = {PROPOSAL_TAG: request.proposal_id} if request.proposal_id else None
    if done is None and trainer is not None:
        step(f"training on {len(data)} rows")
        version = trainer(data, JobRequest(
            launch_id="", home="", tracking_uri="", model_name=request.model_name, schema=schema,
            config=request.config, parent_version=champion.version if champion else None,
            run_name=f"retrain-{request.model_name}", tags=dict(tags or {})))
        failpoint("after_register")
        run_id = registry.version(request.model_name, version).run_id or ""
        fp, model = fingerprint(data), registry.load(request.model_name, version)
        holdout = split_frame(data, schema, seed=request.config.seed).test  # the split the pods trained with
    elif done is None:
        step(f"training on {len(data)} rows")
        job = train_and_register_nproc(registry, data, request.config, nproc=request.nproc,
                                       model_name=request.model_name, schema=schema,
                                       parent_version=champion.version if champion else None, on_epoch=on_epoch,
                                       run_name=f"retrain-{request.model_name}", tags=tags)
        failpoint("after_register")
        version, run_id, fp, model, holdout = (job.version, job.run_id, job.data_fingerprint, job.train.model,
                                               job.split.test)
    else:
        version, run_id, fp, model, holdout = _resume_registered(registry, request, done, data, schema, step)
    verdict, challenger_report, champion_report = gate_version(
        registry, request.model_name, version, model, holdout, request.policy, champion=champion, on_step=step,
        schema=schema)
    if request.reason:
        registry.set_tag(request.model_name, version, "retrain_reason", request.reason[:500])
    return RetrainResult(
        model_name=request.model_name, version=version, run_id=run_id,
        parent_version=champion.version if champion else None, data_fingerprint=fp,
        rows_reference=0 if ref is None else len(ref), rows_window=len(window),
        challenger_metrics=challenger_report.overall, champion_metrics=champion_report.overall if champion_report
        else None, verdict=verdict, alias=CHALLENGER if verdict.passed else None, ready_for_deploy=verdict.passed,
        seconds=time.perf_counter() - start, resumed=done is not None)


def _registered_for(registry: Registry, request: RetrainRequest, *, remote: bool) -> VersionInfo | None:
    """The version an earlier, crashed run of this proposal's retrain registered; None to train (and then
    the MLflow runs a crash left RUNNING are marked KILLED, so the tracking UI does not show them as live;
    not a ``remote`` training's: its rank 0 may be running still, and its job's failure ends its runs)."""
    if not request.proposal_id:
        return None
    found = registry.versions_for_proposal(request.model_name, request.proposal_id)
    if not found:
        if not remote:
            end_orphan_runs(registry, PROPOSAL_TAG, request.proposal_id)
        return None
    return found[0]


def _resume_registered(registry: Registry, request: RetrainRequest, done: VersionInfo, data: pd.DataFrame,
                       schema: TableSchema, step: Step) -> tuple[str, str, str, Any, pd.DataFrame]:
    """Re-derive the held-out rows of a version trained before a crash: the same data and seed give the same
    split. If the window's data changed since (labels arrived), the held-out rows could hold training rows of
    the version, and a gate on them would favour it: refuse instead."""
    fp = fingerprint(data)
    if done.tags.get("data_fingerprint") != fp:
        raise ResumeConflictError(
            f"v{done.version} was trained for proposal {request.proposal_id} before the process stopped, but the "
            "window's data has changed since (new labels or records), so its held-out rows cannot be rebuilt "
            "for a fair gate; abandon this proposal and triage again for a fresh one")
    step(f"resuming: v{done.version} was already trained and registered for this proposal; judging it again")
    holdout = split_frame(data, schema, seed=request.config.seed).test
    return done.version, done.run_id or "", fp, registry.load(request.model_name, done.version), holdout
