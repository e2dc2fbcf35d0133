"""A model's health history with what happened to it: ``ml_core.monitoring.history`` read against the champion's
reference and the model's thresholds, plus incidents, proposals and executed actions marked on the timeline.

The health page, its JSON endpoint and the post-mortem's charts all come from :func:`model_health`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ml_core.monitoring.history import HealthHistory, Marker, health_history, resolve_window

if TYPE_CHECKING:
    from agent.context import OpsContext
    from ml_core.monitoring.drift_screen import ReferenceProfile

logger = logging.getLogger(__name__)
# Proposal kinds whose execution changes what serves (a retrain ends in a canary and a promotion or rollback).
ROUTING_KINDS = frozenset({"retrain", "rollback", "promote", "retune_threshold"})
MAX_EVENTS = 500  # incidents and proposals looked at per chart: more than a month of a noisy model's


def model_health(ctx: OpsContext, model: str, *, since: float | None = None, until: float | None = None,
                 buckets: int = 24, drift_rows: int | None = None) -> HealthHistory:
    """The model's health in [since, until) (default: the last 24 hours) with its events marked; ``drift_rows``:
    each bucket's drift from its last this-many predictions only (``health_history``).

    Raises ``HistoryError`` for a window that cannot be charted and ``SpecError`` for a model without a spec."""
    since, until = resolve_window(since, until, buckets)
    thresholds = ctx.thresholds(model)  # reads the spec: an unknown model fails before the log is opened
    profile, reference_f1 = _champion_reference(ctx, model)
    with ctx.prediction_log(model) as log:
        history = health_history(log, model, since=since, until=until, buckets=buckets, profile=profile,
                                 reference_f1=reference_f1,
                                 p95_latency_ms=thresholds.p95_latency_ms, max_error_rate=thresholds.max_error_rate,
                                 drift_rows=drift_rows)
    markers = [*history.markers, *event_markers(ctx, model, since, until)]
    return history.model_copy(update={"markers": sorted(markers, key=lambda m: m.at)})


def _champion_reference(ctx: OpsContext, model: str) -> tuple[ReferenceProfile | None, float | None]:
    """The champion's drift profile and test F1; (None, None) when there is no champion or its reference is
    unreadable (the charts that need no reference still show)."""
    from ml_core.data.tables import split_frame
    from ml_core.spec.data import load_spec_data
    from ml_core.watch import load_reference, monitoring_profiles

    spec = ctx.spec(model)
    try:
        ref = load_reference(ctx.registry, model, spec.schema,
                             fallback=(lambda: split_frame(load_spec_data(spec), spec.schema,
                                                           seed=ctx.settings.seed).train) if spec.data else None)
        f1 = ctx.registry.version(model, ref.version).test_metrics.get("f1")
        return monitoring_profiles(ref, spec.schema)[0], float(f1) if f1 is not None else None
    except Exception as exc:  # no champion, a deleted bundle: chart without drift, say why in the log
        logger.info("health of %s without a drift reference: %s", model, exc)
        return None, None


def event_markers(ctx: OpsContext, model: str, since: float, until: float) -> list[Marker]:
    """Incidents opened, proposals filed and routing actions executed in [since, until)."""
    markers = [Marker(at=i.opened_at, kind="incident", label=f"incident {i.id}: {i.category}",
                      link=f"/incidents/{i.id}")
               for i in ctx.incidents.list(model=model, limit=MAX_EVENTS) if since <= i.opened_at < until]
    for record in ctx.approvals.list(model=model, since=since, limit=MAX_EVENTS):
        p = record.proposal
        if since <= record.created_at < until:
            markers.append(Marker(at=record.created_at, kind="proposal", label=f"proposal {p.id}: {p.kind}",
                                  link=f"/proposals/{p.id}"))
        if record.status == "executed" and p.kind in ROUTING_KINDS and since <= record.updated_at:
            markers += [Marker(at=e.at, kind="deploy", label=f"executed {p.kind} ({p.id})", link=f"/proposals/{p.id}")
                        for e in ctx.approvals.history(p.id) if e.event == "executed" and since <= e.at < until]
    return markers
