"""Read-only tools over the MLflow registry and the deployment backend: models, versions, runs, routing."""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from agent.context import OpsContext
from ml_core.deploy.base import DeploymentStatus
from ml_core.importance import ImportanceError
from ml_core.registry import CHALLENGER, CHAMPION, VersionInfo
from tools.common import (
    ToolInputError,
    clip,
    errors_as_data,
    iso,
    metrics,
    num,
    reference_metrics,
    require_model,
    resolve_version,
)
from tools.results import (
    DeployEvent,
    DeployHistory,
    DeploymentInfo,
    FeatureImportanceReport,
    FeatureShare,
    ModelBrief,
    ModelList,
    ModelStatus,
    TrainingRun,
    VersionBrief,
    VersionComparison,
    VersionFacts,
)

MAX_MODELS = 20
MAX_FEATURES = 15  # the columns a drift judgement turns on are the leading ones; the rest is summed up
HISTORY_TAGS = ("parent_version", "scenario", "gate", "retrain_reason", "fault", "ready_for_deploy")


def _alias(versions: list[VersionInfo], alias: str) -> str | None:
    return next((v.version for v in versions if alias in v.aliases), None)


def _deployment(status: DeploymentStatus) -> DeploymentInfo:
    # A backend with no routing yet reports "now" as updated_at; only a real deployment has a change time.
    deployed = status.champion is not None or status.canary is not None
    return DeploymentInfo(backend=status.backend, running=status.running, ready=status.ready,
                          ready_reason=clip(status.ready_reason, 160), url=status.url, champion=status.champion,
                          canary=status.canary, canary_weight=status.canary_weight,
                          previous_champion=status.previous_champion,
                          updated=iso(status.updated_at) if deployed else None)


@errors_as_data()
def list_models(ctx: OpsContext) -> ModelList:
    """List the registered models with their newest versions, which version is champion/challenger, and which
    versions passed the gate (ready_for_deploy). Call this first when you do not know the model names.
    """
    names = ctx.registry.models()
    out = []
    for name in names[:MAX_MODELS]:
        versions = ctx.registry.versions(name)
        latest = [VersionBrief(version=v.version, aliases=list(v.aliases), ready_for_deploy=v.ready_for_deploy,
                               created=iso(v.created_ms / 1000)) for v in reversed(versions[-5:])]
        out.append(ModelBrief(name=name, n_versions=len(versions), champion=_alias(versions, CHAMPION),
                              challenger=_alias(versions, CHALLENGER), latest=latest))
    return ModelList(models=out, more_models=max(0, len(names) - MAX_MODELS))


@errors_as_data()
def model_status(ctx: OpsContext, model: str) -> ModelStatus:
    """Where one model stands now: registry aliases (champion, challenger), versions ready to deploy, and the
    serving deployment (champion and canary versions, canary traffic weight, previous champion kept for rollback,
    whether the service is running and ready, its URL). Use it before proposing a rollback or a promotion.

    Args:
        model: registered model name, e.g. "churn".
    """
    require_model(ctx, model)
    versions = ctx.registry.versions(model)
    status = ctx.backend(model).status()
    return ModelStatus(model=model, champion=_alias(versions, CHAMPION), challenger=_alias(versions, CHALLENGER),
                       ready_for_deploy=[v.version for v in versions if v.ready_for_deploy][-10:],
                       deployment=_deployment(status))


def _facts(info: VersionInfo) -> VersionFacts:
    notes = [f"{k}={clip(info.tags[k], 120)}" for k in ("scenario", "fault", "retrain_reason") if info.tags.get(k)]
    return VersionFacts(version=info.version, aliases=list(info.aliases), created=iso(info.created_ms / 1000),
                        test_metrics=reference_metrics(info), parent_version=info.tags.get("parent_version") or None,
                        data_fingerprint=info.tags.get("data_fingerprint"),
                        training_run_id=info.tags.get("training_run_id") or info.run_id, gate=info.tags.get("gate"),
                        ready_for_deploy=info.ready_for_deploy, note="; ".join(notes) or None)


@errors_as_data()
def compare_versions(ctx: OpsContext, model: str, version_a: str, version_b: str) -> VersionComparison:
    """Compare two versions of a model side by side: held-out test metrics (F1, AUC), the difference b - a,
    lineage (parent version, training data fingerprint, training run id) and the gate verdict. Use it to judge
    a challenger or canary against the champion, or to see what changed between releases.

    Args:
        model: registered model name, e.g. "churn".
        version_a: a version number such as "1", or an alias: "champion" or "challenger".
        version_b: the other version, same forms as version_a.
    """
    a, b = resolve_version(ctx, model, version_a), resolve_version(ctx, model, version_b)
    fa, fb = _facts(a), _facts(b)
    delta = {k: round(fb.test_metrics[k] - v, 4) for k, v in fa.test_metrics.items() if k in fb.test_metrics}
    same = fa.data_fingerprint == fb.data_fingerprint if fa.data_fingerprint and fb.data_fingerprint else None
    untested = [f"v{f.version}" for f in (fa, fb) if not f.test_metrics]
    note = (f"{' and '.join(untested)} carry no test_* metrics (registered without a test-set evaluation); "
            "compare production quality with performance instead" if untested else None)
    return VersionComparison(model=model, a=fa, b=fb, delta=delta, same_training_data=same, note=note)


@errors_as_data()
def training_run(ctx: OpsContext, model: str, version: str) -> TrainingRun:
    """The MLflow training run behind a model version: hyper-parameters, final metrics (test F1/AUC, best epoch,
    training seconds), training data fingerprint, start time and duration. Use it to explain how a version was
    trained or how long a retrain would take.

    Args:
        model: registered model name, e.g. "churn".
        version: a version number such as "2", or an alias: "champion" or "challenger".
    """
    info = resolve_version(ctx, model, version)
    # Released copies (hotfixes, threshold changes) point at the run that trained their weights.
    run_id = info.tags.get("training_run_id") or info.run_id
    if not run_id:
        raise ToolInputError(f"version {info.version} of '{model}' names no MLflow run")
    try:
        run = ctx.registry.client.get_run(run_id)
    except MlflowException as exc:
        raise ToolInputError(f"the run {run_id} behind version {info.version} is not in the tracking store") from exc
    start, end = run.info.start_time, run.info.end_time
    params = {k: clip(v, 80) for k, v in sorted(run.data.params.items())[:30]}
    note = (f"version {info.version} was registered from run {info.run_id}; these are its training run's figures"
            if info.run_id and info.run_id != run_id else None)
    return TrainingRun(model=model, version=info.version, run_id=run_id, run_name=run.info.run_name,
                       status=run.info.status, started=iso(start / 1000) if start else None,
                       start_time=start / 1000 if start else None,
                       duration_seconds=num((end - start) / 1000, 2) if start and end else None,
                       data_fingerprint=run.data.tags.get("data_fingerprint") or run.data.params.get(
                           "data_fingerprint"), params=params,
                       metrics=dict(list(metrics(run.data.metrics).items())[:30]), note=note)


@errors_as_data()
def recent_deploys(ctx: OpsContext, model: str, limit: int = 5) -> DeployHistory:
    """The latest registry versions of a model, newest first, with creation time, aliases and tags (parent
    version, scenario, gate verdict, retrain reason), plus when serving routing last changed. Use it to find
    a release that coincides with a problem.

    Args:
        model: registered model name, e.g. "churn".
        limit: how many versions to list, 1 to 20 (default 5).
    """
    require_model(ctx, model)
    limit = max(1, min(int(limit), 20))
    versions = sorted(ctx.registry.versions(model), key=lambda v: -v.created_ms)[:limit]
    events = [DeployEvent(version=v.version, created=iso(v.created_ms / 1000), aliases=list(v.aliases),
                          tags={k: clip(v.tags[k], 160) for k in HISTORY_TAGS if v.tags.get(k)}) for v in versions]
    d = _deployment(ctx.backend(model).status())
    return DeployHistory(model=model, versions=events, champion=d.champion, canary=d.canary,
                         canary_weight=d.canary_weight, previous_champion=d.previous_champion,
                         routing_updated=d.updated)


@errors_as_data(ImportanceError)
def feature_importance(ctx: OpsContext, model: str, version: str = "champion") -> FeatureImportanceReport:
    """How much a model version relies on each input column (permutation importance: how much its AUC drops
    when that column is shuffled), most important first, with each column's share of the total. Use it to
    weigh drift: drift in a column with a large share can hurt the model, drift in one with a share near 0
    barely matters.

    Args:
        model: registered model name, e.g. "churn".
        version: a version number such as "2", or an alias: "champion" (default) or "challenger".
    """
    info = resolve_version(ctx, model, version)
    found = ctx.importance(model, info.version)
    shown = found.features[:MAX_FEATURES]
    return FeatureImportanceReport(
        model=model, version=info.version, measured_on_version=found.version, metric=found.metric,
        base_metric=num(found.base_metric), n_rows=found.n_rows, rows_from=found.rows_from,
        features=[FeatureShare(feature=f.feature, rank=f.rank, share=num(f.share, 3) or 0.0,
                               drop=num(f.drop_mean) or 0.0, drop_std=num(f.drop_std) or 0.0) for f in shown],
        more_features=len(found.features) - len(shown),
        share_left_out=num(sum(f.share for f in found.features[MAX_FEATURES:]), 3) or 0.0)
