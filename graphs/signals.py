"""Triage's gather branches: one monitoring pass over the window, and the serving/registry history.

Only aggregates leave here (findings, metrics, version ids, file paths, counts of rejected fields);
the window's customer rows stay in the prediction log.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from agent.context import OpsContext
from agent.diagnosis import DeploySnapshot, TriageSignals
from ml_core.monitoring.check import Finding
from ml_core.registry import RegistryError
from ml_core.watch import check_window


def gather_monitoring(ctx: OpsContext, model: str, since: float, until: float) -> dict[str, Any]:
    """Drift (with the Evidently report), realised and estimated performance, prior shift, SLOs, quality."""
    try:
        watched = check_window(ctx.layout, ctx.registry, model, since=since, until=until, thresholds=ctx.thresholds)
    except RegistryError as exc:
        return {"summary": f"cannot check {model}: {exc}", "findings": [], "n_rows": 0}
    r = watched.result
    out: dict[str, Any] = {
        "summary": r.summary, "n_rows": r.n_rows, "findings": [f.model_dump(mode="json") for f in r.findings],
        "realised": r.realised.metrics if r.realised else {}, "n_labelled": r.realised.n_labelled if r.realised else 0,
        "reference": r.realised.reference if r.realised else {},
        "estimated": r.estimate.current if r.estimate else {},
        "report_dir": str(watched.report_dir) if watched.report_dir else None,
        "plots": [str(p) for p in watched.report.plots] if watched.report else [],
        "rejected_fields": rejected_fields(ctx, model, since, until),
        "realised_by_version": realised_by_version(ctx, model, since, until),
        "previous_reference": previous_reference(ctx, model, since),
    }
    if r.findings and watched.report and watched.report.html:
        out["report_html"] = str(watched.report.html)
    return out


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


def realised_by_version(ctx: OpsContext, model: str, since: float, until: float) -> dict[str, dict[str, float]]:
    """Each version's realised F1 on its own labelled decisions: a release is judged by what it decided."""
    with ctx.prediction_log(model) as log:
        labelled = log.labelled(since, until)
    out: dict[str, dict[str, float]] = {}
    for version, g in labelled.groupby(labelled["version"].astype(str)) if len(labelled) else []:
        tp = float(((g["predicted"] == 1) & (g["actual"] == 1)).sum())
        wrong = float((g["predicted"] != g["actual"]).sum())
        out[str(version)] = {"f1": 2 * tp / (2 * tp + wrong) if tp + wrong else 1.0, "n": float(len(g))}
    return out


def rejected_fields(ctx: OpsContext, model: str, since: float, until: float) -> dict[str, int]:
    """Which fields the service rejected requests for, and how often: the culprit of a broken feed."""
    with ctx.prediction_log(model) as log:
        rejections = log.rejections(since, until)
    counts: Counter[str] = Counter()
    for reason in rejections.get("reason", []):
        try:
            errors = json.loads(reason).get("errors", [])
        except (TypeError, ValueError, AttributeError):
            continue
        counts.update(f"{e.get('field')} ({e.get('problem')})" for e in errors if e.get("field"))
    return dict(counts.most_common(8))


def gather_deploys(ctx: OpsContext, model: str, since: float) -> dict[str, Any]:
    """Serving state plus registry versions created or deployed since the window started (and the last few)."""
    snapshot = DeploySnapshot()
    try:
        st = ctx.backend(model).status()
        snapshot = DeploySnapshot(champion=st.champion, canary=st.canary, canary_weight=st.canary_weight,
                                  previous_champion=st.previous_champion, running=st.running, ready=st.ready,
                                  updated_at=st.updated_at)
    except Exception as exc:  # a status that cannot be read is a signal, not a crash
        return {"snapshot": snapshot.model_dump(), "recent": [f"deployment status unavailable: {exc}"]}
    recent = []
    try:
        versions = sorted(ctx.registry.versions(model), key=lambda v: -v.created_ms)[:5]
    except RegistryError:
        versions = []
    for v in versions:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v.created_ms / 1000))
        new = " (new in this window)" if v.created_ms / 1000 >= since else ""
        tags = {k: v.tags[k] for k in ("parent_version", "scenario", "gate", "retrain_reason") if k in v.tags}
        recent.append(f"v{v.version} registered {when} UTC{new}; aliases {list(v.aliases) or '-'}; {tags}")
    if snapshot.updated_at and snapshot.updated_at >= since:
        recent.insert(0, f"routing changed in this window: champion v{snapshot.champion}, canary "
                         f"{'v' + snapshot.canary if snapshot.canary else 'none'} at {snapshot.canary_weight:.0%}")
    return {"snapshot": snapshot.model_dump(), "recent": recent}


def signals_from(model: str, since: float, until: float, monitor: dict[str, Any],
                 deploy: dict[str, Any]) -> TriageSignals:
    notes = []
    if monitor.get("rejected_fields"):
        notes.append("rejected fields: " + ", ".join(f"{k} ×{n}" for k, n in monitor["rejected_fields"].items()))
    return TriageSignals(
        model=model, window_since=since, window_until=until, n_predictions=monitor.get("n_rows", 0),
        n_labelled=monitor.get("n_labelled", 0), deploy=DeploySnapshot.model_validate(deploy.get("snapshot", {})),
        findings=[Finding.model_validate(f) for f in monitor.get("findings", [])], summary=monitor.get("summary", ""),
        drift_report_dir=monitor.get("report_html") or monitor.get("report_dir"), drift_plots=monitor.get("plots", []),
        realised=monitor.get("realised", {}), estimated=monitor.get("estimated", {}),
        reference=monitor.get("reference", {}), realised_by_version=monitor.get("realised_by_version", {}),
        previous_reference=monitor.get("previous_reference", {}),
        recent_deploys=deploy.get("recent", []), notes=notes)
