"""Triage's gather branches: one monitoring pass over the window, and the serving/registry history.

Only aggregates leave here (findings, metrics, version ids, file paths, per-version service levels, positive
rates, counts of rejected fields, null shares); the window's customer rows stay in the prediction log. The
measuring is ml_core's (``ml_core.watch``, ``ml_core.monitoring``); this module joins it into typed signals.
"""

from __future__ import annotations

import time
from typing import Any

from agent.context import OpsContext
from agent.diagnosis import DeploySnapshot, TriageSignals
from graphs.canary_verdict import confusion_by_version
from ml_core.deploy.workload import WorkloadHealth
from ml_core.monitoring.check import Finding
from ml_core.monitoring.decision_impact import DecisionImpact
from ml_core.monitoring.performance import PriorShift
from ml_core.monitoring.releases import RegisteredVersion, Release, recent_versions, release_in_window
from ml_core.monitoring.shadow import ShadowComparison, shadow_compare
from ml_core.monitoring.shift_stats import FeatureShift
from ml_core.monitoring.slices import SliceRegression, slice_regressions
from ml_core.monitoring.slo import NullField, RejectedField, VersionSLO
from ml_core.registry import RegistryError, VersionInfo
from ml_core.version_cache import VersionCache
from ml_core.version_diff import ReleaseDiff, release_diff
from ml_core.watch import ReportWhen, write_window_report

DEPLOY_TAGS = ("parent_version", "scenario", "gate", "retrain_reason")
# A release stays on probation for a day after it goes live: each triage judges it against its baseline on
# everything it decided since then (a day spans a daily traffic cycle), so a modest regression that one window's
# labels cannot yet establish is established as the labels add up.
RELEASE_PROBATION_S = 24 * 3600.0
# The scheduled triage runs the fast screen first and writes the Evidently report only for a window with findings
# (``ml_core.watch.report_wanted`` says why that is every window a post-mortem links); True restores the report
# on every window (the benchmark's peer, ``evals/bench_tick.py``).
SCHEDULED_REPORT: ReportWhen = "findings"
# The champion's decisions on the spec's held-out split, per (spec, version): a pure function of both, and the
# slowest part of a quiet tick when re-made (load the table, split it, score it). Bounded like the references.
_held_out_decisions: VersionCache[Any] = VersionCache(32)
# A categorical column with at most this many values is a segment worth naming in "where the drift concentrates".
MAX_SEGMENT_VALUES = 10


def gather_monitoring(ctx: OpsContext, model: str, since: float, until: float) -> dict[str, Any]:
    """Drift (with the Evidently report), realised and estimated performance, prior shift, SLOs, quality."""
    try:
        watched = ctx.check_window(model, since=since, until=until, write_report=SCHEDULED_REPORT)
    except RegistryError as exc:
        return {"summary": f"cannot check {model}: {exc}", "findings": [], "n_rows": 0}
    r = watched.result
    shadow = shadow_release(ctx, model, since, until)
    slices = slice_signal(ctx, model, since, until) if r.realised else []
    if watched.report is None and watched.reference is not None and (shadow or slices):
        # No finding, but a release or a slice regressed: that opens an incident, whose post-mortem links the report.
        schema = ctx.spec(model).schema
        watched.report = write_window_report(ctx.layout, watched.reference, model, since, until, schema)
    out: dict[str, Any] = {
        "summary": r.summary, "n_rows": r.n_rows, "findings": [f.model_dump(mode="json") for f in r.findings],
        "realised": r.realised.metrics if r.realised else {}, "n_labelled": r.realised.n_labelled if r.realised else 0,
        "reference": r.realised.reference if r.realised else {},
        "estimated": r.estimate.current if r.estimate else {},
        "report_dir": str(watched.report_dir) if watched.report_dir else None,
        "plots": [str(p) for p in watched.report.plots] if watched.report else [],
        "slo_by_version": [v.model_dump(mode="json") for v in r.slo.versions] if r.slo else [],
        "prior": r.prior.model_dump(mode="json") if r.prior else None,
        "rejected_fields": [f.model_dump(mode="json") for f in r.quality.rejected_fields] if r.quality else [],
        "null_share": dict(r.quality.null_share) if r.quality else {},
        "null_fields": [f.model_dump(mode="json") for f in r.quality.null_fields] if r.quality else [],
        "realised_by_version": realised_by_version(ctx, model, since, until),
        "previous_reference": previous_reference(ctx, model, since),
        "shadow": shadow, "slice_regressions": slices,
        "importance": importance_shares(ctx, model, watched.version),
        **what_moved(ctx, model, since, until, watched.reference, r.findings),
    }
    if watched.report and watched.report.html:
        out["report_html"] = str(watched.report.html)
    return out


def what_moved(ctx: OpsContext, model: str, since: float, until: float, reference: Any,
               findings: list[Finding]) -> dict[str, Any]:
    """The window's wrong decisions and fallbacks, and (for a window with drifted features) each drifted feature's
    moved statistics: the post-mortem's impact and 'what changed'. Only a window with findings pays for it."""
    if not findings:
        return {}
    from ml_core.monitoring.decision_impact import decision_impact
    from ml_core.monitoring.shift_stats import feature_shifts

    drifted = [f.subject for f in findings if f.kind == "feature_drift"]
    with ctx.prediction_log(model) as log:
        answers = log.predictions(since, until, with_features=bool(drifted), columns=("ts", "role"))
        labelled = log.labelled(since, until, with_ids=False)
    out: dict[str, Any] = {"decisions": decision_impact(answers, labelled).model_dump(mode="json")}
    if drifted and reference is not None:
        spec = ctx.spec(model)
        shifts = feature_shifts(reference.frame, answers, drifted, spec.schema.categorical_names,
                                segment_columns(reference.frame, spec.slices, spec.schema.categorical_names))
        out["feature_shifts"] = [s.model_dump(mode="json") for s in shifts]
    return out


def segment_columns(frame: Any, slices: list[str], categorical: list[str]) -> list[str]:
    """The spec's slice columns; without them, the categorical columns of few values (a plan, a region code): each
    is a segment a person can name, where a column of hundreds of values would only split the window into noise."""
    if slices:
        return list(slices)
    return [c for c in categorical if c in frame.columns and frame[c].nunique() <= MAX_SEGMENT_VALUES]


def previous_reference(ctx: OpsContext, model: str, since: float) -> dict[str, float]:
    """The replaced champion's test metrics, when the champion changed since ``since``; else empty."""
    try:
        st = ctx.backend(model).status()
        if not (st.previous_champion and st.champion and st.previous_champion != st.champion
                and st.updated_at and st.updated_at >= since):
            return {}
        return ctx.registry.version(model, st.previous_champion).test_metrics
    except Exception:  # no deployment, or the old version is gone: no yardstick, not a crash
        return {}


def shadow_release(ctx: OpsContext, model: str, since: float, until: float) -> dict[str, Any] | None:
    """A release that went live in the window or is still on probation, shadow-compared with the version it replaced
    (a promotion) or runs beside (a canary) on the records it decided since it went live; None without a release
    or a baseline to compare with."""
    try:
        st = ctx.backend(model).status()
        opened = since - RELEASE_PROBATION_S
        release = release_in_window(st, recent_versions(ctx.registry.versions(model), opened), opened)
        baseline = (st.champion if release and release.how == "canary" else st.previous_champion) if release else None
        if release is None or not baseline or baseline == release.version:
            return None
        baseline_model = ctx.registry.load(model, baseline)
    except Exception:  # no deployment, or the old version cannot be loaded: no shadow, not a crash
        return None
    start = max(opened, min(since, release.at or since))  # everything it decided since it went live
    with ctx.prediction_log(model) as log:
        window, labelled = log.predictions(start, until), log.labelled(start, until)
    found = shadow_compare(window, labelled, baseline_model, ctx.spec(model).schema, release=release.version,
                           baseline=baseline, how=release.how, max_drop=ctx.thresholds(model).max_performance_drop)
    return found.model_dump(mode="json") if found else None


def importance_shares(ctx: OpsContext, model: str, version: str) -> dict[str, float]:
    """Each feature's share of the serving champion's permutation importance (stored with the version, or measured
    once and cached); empty when it cannot be had, and then drift is judged without it."""
    try:
        return {f.feature: f.share for f in ctx.importance(model, version).features}
    except Exception:  # an external model without data to measure on: no reliance known, not a crash
        return {}


def slice_signal(ctx: OpsContext, model: str, since: float, until: float) -> list[dict[str, Any]]:
    """The champion's slices (the spec's slice columns) whose realised error rate in the window rose significantly
    above the champion's on the same slice of the held-out split."""
    from ml_core.data.tables import split_frame
    from ml_core.spec.data import load_spec_data

    spec = ctx.spec(model)
    if not spec.slices:
        return []
    with ctx.prediction_log(model) as log:
        decided, features = log.labelled(since, until), log.labelled_features(since, until)
    if not len(decided):
        return []
    decided = decided[decided["role"].astype(str) == "champion"]
    if not len(decided):  # every labelled decision came from a canary or a fallback: nothing of the champion's
        return []
    version = decided["version"].astype(str).mode()
    window = decided.merge(features.drop(columns=["actual"]), on="record_id")

    def held_out_decisions():
        champion = ctx.registry.load(model, str(version.iloc[0]))
        held_out = split_frame(load_spec_data(spec), spec.schema, seed=ctx.settings.seed).test
        reference = held_out[list(spec.slices)].copy()
        reference["predicted"] = (champion.predict_proba(held_out) >= champion.threshold).astype(int)
        reference["actual"] = spec.schema.labels_to_int(held_out[spec.schema.label]).to_numpy()
        return reference

    key = (str(ctx.layout.home), model, str(version.iloc[0]), ctx.settings.seed, spec.model_dump_json())
    try:
        reference = _held_out_decisions.get(key, held_out_decisions)
    except Exception:  # no data to compare with (an external model without its table): no slice check
        return []
    return [s.model_dump(mode="json") for s in slice_regressions(window, reference, spec.slices)]


def realised_by_version(ctx: OpsContext, model: str, since: float, until: float) -> dict[str, dict[str, float]]:
    """Each version's realised F1 on its own labelled decisions: a release is judged by what it decided."""
    with ctx.prediction_log(model) as log:
        labelled = log.labelled(since, until)
    return {version: {"f1": c.f1, "n": float(c.n)} for version, c in confusion_by_version(labelled).items()}


def gather_deploys(ctx: OpsContext, model: str, since: float) -> dict[str, Any]:
    """Serving state, the last few registry versions (flagged if registered since the window started), and
    which version went live in the window; plus one line per change for people."""
    snapshot, workload = DeploySnapshot(), workload_signal(ctx, model)
    try:
        st = ctx.backend(model).status()
        snapshot = DeploySnapshot(champion=st.champion, canary=st.canary, canary_weight=st.canary_weight,
                                  previous_champion=st.previous_champion, running=st.running, ready=st.ready,
                                  updated_at=st.updated_at)
    except Exception as exc:  # a status that cannot be read is a signal, not a crash
        return {"snapshot": snapshot.model_dump(), "recent": [f"deployment status unavailable: {exc}"],
                "versions": [], "release": None, "workload": workload}
    try:
        versions = ctx.registry.versions(model)
    except RegistryError:
        versions = []
    recent = recent_versions(versions, since)
    release = release_in_window(st, recent, since)
    lines = _deploy_lines(snapshot, recent, {v.version: v for v in versions}, since)
    diff = release_diff_signal(ctx, model, st, versions, release, since)
    return {"snapshot": snapshot.model_dump(), "recent": lines, "versions": [v.model_dump(mode="json") for v in recent],
            "release": release.model_dump(mode="json") if release else None, "workload": workload,
            "release_diff": diff.model_dump(mode="json") if diff else None}


def release_diff_signal(ctx: OpsContext, model: str, st: Any, versions: list[VersionInfo], release: Release | None,
                        since: float) -> ReleaseDiff | None:
    """The version diff of the release that went live in the window, or is still on probation (the shadow
    comparison's release): against the champion it runs beside (a canary) or the one it replaced."""
    if release is None:
        opened = since - RELEASE_PROBATION_S
        release = release_in_window(st, recent_versions(versions, opened), opened)
    if release is None:
        return None
    parent = next((v.tags.get("parent_version") for v in versions if v.version == release.version), None)
    old = st.champion if release.how == "canary" else (st.previous_champion or parent or None)
    try:
        return release_diff(ctx.registry, model, release.version, old)
    except Exception:  # a registry that cannot say: the post-mortem states the release without its diff
        return None


def workload_signal(ctx: OpsContext, model: str) -> dict[str, Any] | None:
    """What the platform says of the serving replicas (``DeploymentBackend.workload_health``), JSON-ready; None when
    the backend cannot tell or fails to say, and then triage judges on the model's signals alone."""
    try:
        health = ctx.backend(model).workload_health()
    except Exception:  # a backend breaking its never-raises contract still must not fail triage
        return None
    return health.model_dump(mode="json") if health is not None else None


def _deploy_lines(snapshot: DeploySnapshot, recent: list[RegisteredVersion], info: dict[str, VersionInfo],
                  since: float) -> list[str]:
    lines = []
    for v in recent:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v.registered_at))
        new = " (new in this window)" if v.in_window else ""
        tags = {k: info[v.version].tags[k] for k in DEPLOY_TAGS if k in info[v.version].tags}
        lines.append(f"v{v.version} registered {when} UTC{new}; aliases {v.aliases or '-'}; {tags}")
    if snapshot.updated_at and snapshot.updated_at >= since:
        lines.insert(0, f"routing changed in this window: champion v{snapshot.champion}, canary "
                        f"{'v' + snapshot.canary if snapshot.canary else 'none'} at {snapshot.canary_weight:.0%}")
    return lines


def signals_from(model: str, since: float, until: float, monitor: dict[str, Any],
                 deploy: dict[str, Any]) -> TriageSignals:
    """The typed signals of one window, from the two gather branches' (JSON-ready) results."""
    rejected = [RejectedField.model_validate(f) for f in monitor.get("rejected_fields", [])]
    notes = ["rejected fields: " + ", ".join(f"{f.field} ({f.problem}) ×{f.count}" for f in rejected)
             ] if rejected else []  # for people and the LLM; the policy reads ``rejected_fields``
    return TriageSignals(
        model=model, window_since=since, window_until=until, n_predictions=monitor.get("n_rows", 0),
        n_labelled=monitor.get("n_labelled", 0), deploy=DeploySnapshot.model_validate(deploy.get("snapshot", {})),
        findings=[Finding.model_validate(f) for f in monitor.get("findings", [])], summary=monitor.get("summary", ""),
        drift_report_dir=monitor.get("report_html") or monitor.get("report_dir"), drift_plots=monitor.get("plots", []),
        realised=monitor.get("realised", {}), estimated=monitor.get("estimated", {}),
        reference=monitor.get("reference", {}), realised_by_version=monitor.get("realised_by_version", {}),
        previous_reference=monitor.get("previous_reference", {}),
        release=Release.model_validate(deploy["release"]) if deploy.get("release") else None,
        release_diff=ReleaseDiff.model_validate(deploy["release_diff"]) if deploy.get("release_diff") else None,
        recent_versions=[RegisteredVersion.model_validate(v) for v in deploy.get("versions", [])],
        slo_by_version=[VersionSLO.model_validate(v) for v in monitor.get("slo_by_version", [])],
        prior=PriorShift.model_validate(monitor["prior"]) if monitor.get("prior") else None,
        rejected_fields=rejected, null_share=monitor.get("null_share", {}),
        null_fields=[NullField.model_validate(f) for f in monitor.get("null_fields", [])],
        shadow=ShadowComparison.model_validate(monitor["shadow"]) if monitor.get("shadow") else None,
        slice_regressions=[SliceRegression.model_validate(s) for s in monitor.get("slice_regressions", [])],
        importance=monitor.get("importance", {}),
        feature_shifts=[FeatureShift.model_validate(s) for s in monitor.get("feature_shifts", [])],
        decisions=DecisionImpact.model_validate(monitor["decisions"]) if monitor.get("decisions") else None,
        recent_deploys=deploy.get("recent", []), notes=notes,
        workload=WorkloadHealth.model_validate(deploy["workload"]) if deploy.get("workload") else None)
