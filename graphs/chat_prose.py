"""Sentences from the tools' typed results, for chat without an LLM: what a colleague would say, with the
same figures the tool returned (the raw result stays one click or ``--verbose`` away).

Each function reads one result model's fields and never the text another part of the code wrote.
"""

from __future__ import annotations

from datetime import UTC, datetime

from agent.approvals import ProposalRecord
from agent.incidents import IncidentRecord
from tools.results import (
    DriftedFeature,
    DriftReport,
    IncidentRecall,
    ModelList,
    ModelStatus,
    PerformanceReport,
    SLOStatus,
    VersionComparison,
    VersionSLOBrief,
)

# A metric that moved less than this reads as "held": below the third decimal the figures shown do not change.
STEADY = 0.005
MAX_NAMED_FEATURES = 3  # a sentence names the leading culprits; the tool's result lists them all


def at(iso: str | None, now: float) -> str:
    """'06:45 UTC' for a time on the clock's day, else '2025-01-31 06:45 UTC'; '' when unknown."""
    if not iso:
        return ""
    t = datetime.fromisoformat(iso)
    today = datetime.fromtimestamp(now, UTC).date()
    return t.strftime("%H:%M UTC" if t.date() == today else "%Y-%m-%d %H:%M UTC")


def window_phrase(minutes: float) -> str:
    """'the last hour', 'the last 2 days', 'the last 30 minutes'."""
    for unit, size in (("day", 1440), ("hour", 60)):
        if minutes >= size and minutes % size == 0:
            n = int(minutes // size)
            return f"the last {unit}" if n == 1 else f"the last {n} {unit}s"
    return f"the last {minutes:g} minutes"


def _moved(name: str, before: float, after: float, source: str = "") -> str:
    """'F1 fell from 0.875 (test set) to 0.780'; 'held at' a change the shown digits would hide."""
    if abs(after - before) < STEADY:
        return f"{name} held at {after:.3f}"
    return f"{name} {'fell' if after < before else 'rose'} from {before:.3f}{source} to {after:.3f}"


def performance_text(r: PerformanceReport, minutes: float) -> str:
    """'F1 fell from 0.875 to 0.780 over 3,000 labelled predictions of the last hour (AUC …)'."""
    if r.error:
        return r.error
    span = window_phrase(minutes)
    ref = r.reference
    if r.n_labelled and "f1" in r.realised and "f1" in ref:
        source = f" (v{r.champion}'s test set)" if r.champion else " (test set)"
        text = f"{_moved('F1', ref['f1'], r.realised['f1'], source)} over {r.n_labelled:,} labelled predictions"
        text += f" of {span}"
        if "auc" in r.realised and "auc" in ref:
            text += f" ({_moved('AUC', ref['auc'], r.realised['auc'])})"
        if r.n_labelled < r.n_rows:
            text += f"; {r.n_labelled:,} of the window's {r.n_rows:,} predictions have their label so far"
    elif "f1" in r.estimated and "f1" in ref:
        text = (f"no labels have arrived yet for the {r.n_rows:,} predictions of {span}; the label-free estimate "
                f"puts F1 at {r.estimated['f1']:.3f} against {ref['f1']:.3f} on the test set (it assumes "
                "calibrated scores and cannot see concept drift)")
    else:
        text = f"{r.n_rows:,} predictions in {span}, but no labels and no estimate to judge their quality by"
    if r.prior and r.prior.shifted and r.prior.actual_positive_rate is not None \
            and r.prior.reference_actual_positive_rate is not None:
        text += (f"; the share of positives moved from {r.prior.reference_actual_positive_rate:.1%} to "
                 f"{r.prior.actual_positive_rate:.1%}")
    flagged = sorted({f.kind.replace("_", " ") for f in r.findings})
    if flagged:
        text += f" — monitoring flags: {', '.join(flagged)}"
    return f"{text[0].upper()}{text[1:]}."


def _feature(f: DriftedFeature) -> str:
    parts = []
    if f.test and f.statistic is not None:
        parts.append(f"{f.test} {f.statistic:.3g}" + (f" > {f.threshold:.3g}" if f.threshold is not None else ""))
    if f.p_value is not None:  # the tool rounds p to 6 places: 0 means below that
        parts.append(f"p = {f.p_value:.2g}" if f.p_value >= 1e-4 else "p < 0.0001")
    return f"`{f.feature}`" + (f" ({', '.join(parts)})" if parts else "")


def drift_text(r: DriftReport, minutes: float) -> str:
    """'`total_day_minutes` drifted (wasserstein 0.31 > 0.1) over 1,000 predictions of the last hour; …'."""
    if r.error:
        return r.error
    span = f"{r.n_rows:,} predictions of {window_phrase(minutes)}"
    if r.drifted:
        named = ", ".join(_feature(f) for f in r.drifted[:MAX_NAMED_FEATURES])
        more = len(r.drifted) - MAX_NAMED_FEATURES
        text = (f"{named}{f' and {more} more' if more > 0 else ''} drifted over {span} "
                f"({len(r.drifted)} of {r.n_features_checked} features checked")
        text += ", enough for dataset drift)" if r.dataset_drift else ")"
    else:
        text = f"no feature drifted over {span} ({r.n_features_checked} checked)"
    if r.unconfirmed:
        names = ", ".join(f"`{n}`" for n in r.unconfirmed[:MAX_NAMED_FEATURES])
        text += f"; {names} moved by Evidently's default test only, not confirmed once corrected for many tests"
    if r.prediction_drift:
        text += "; the model's scores shifted too"
    if r.report_html:
        text += f". Evidently report: {r.report_html}"
    return f"{text[0].upper()}{text[1:]}."


def status_text(r: ModelStatus, now: float) -> str:
    """'churn: v2 is champion and serves all traffic (since 06:45 UTC); v1 is kept for rollback. …'."""
    if r.error:
        return r.error
    d = r.deployment
    if d is None or (d.champion is None and d.canary is None):
        text = (f"{r.model}: nothing is deployed" + (f"; v{r.champion} is the registry's champion" if r.champion
                                                     else "; no version is champion yet"))
        return text + ". Deploy it with `opsagent deploy`."
    if d.canary is not None:
        text = (f"{r.model}: v{d.canary} is a canary on {d.canary_weight:.0%} of traffic beside champion "
                f"v{d.champion}")
    else:
        text = f"{r.model}: v{d.champion} is champion and serves all traffic"
    if d.updated:
        text += f" (routing last changed at {at(d.updated, now)})"
    if d.previous_champion and d.previous_champion not in (d.champion, d.canary):
        text += f"; v{d.previous_champion} is kept for rollback"
    if not d.running:
        text += f". The service is not running ({d.ready_reason or 'stopped'}) on the {d.backend} backend"
    elif not d.ready:
        text += f". The service runs but is not ready: {d.ready_reason or 'no reason given'}"
    else:
        text += f". The {d.backend} service is up and ready" + (f" at {d.url}" if d.url else "")
    if r.challenger and r.challenger not in (d.champion, d.canary):
        text += f"; v{r.challenger} passed the gate (challenger) and is not deployed"
    return text + "."


def _slo_line(v: VersionSLOBrief, budget_ms: float, max_error_rate: float) -> str:
    p95 = f"p95 {v.p95_ms:.0f} ms" if v.p95_ms is not None else "no latency yet"
    breached = v.latency_breached or v.error_rate_breached
    verdict = "breaching its SLOs" if breached else "within its SLOs"
    return (f"v{v.version} answered {v.n:,} requests: {p95} (budget {budget_ms:g} ms), error rate "
            f"{v.error_rate:.1%} (max {max_error_rate:.1%}) — {verdict}")


def slo_text(r: SLOStatus, minutes: float, version: str | None = None) -> str:
    """Service levels of ``version`` (or every served version) over the window, with the breaches."""
    if r.error:
        return r.error
    chosen = [v for v in r.versions if version is None or v.version == version]
    if version is not None and not chosen:
        return f"v{version} answered no requests in {window_phrase(minutes)}, so its SLOs cannot be judged yet."
    lines = [_slo_line(v, r.p95_budget_ms, r.max_error_rate) for v in chosen]
    text = f"Over {window_phrase(minutes)}, " + "; ".join(lines) if lines else \
        f"No scored requests in {window_phrase(minutes)}"
    if r.n_rejected:
        text += (f"; {r.n_rejected:,} requests were rejected as invalid input ({r.rejection_rate:.1%}"
                 + (", above the limit)" if r.rejection_breached else ")"))
    return text + "."


_PROPOSAL_STATE = {"pending": "is waiting for approval", "accepted": "was accepted", "refused": "was refused",
                   "executing": "is running", "executed": "was executed", "rejected": "was rejected",
                   "expired": "expired unanswered",
                   "failed": "failed", "superseded": "was superseded", "interrupted": "was interrupted"}


def incident_text(i: IncidentRecord, proposal: ProposalRecord | None, now: float) -> str:
    """'Incident inc-… (resolved), opened 06:10 UTC, diagnosed data drift in `x` → retrain; its proposal …'."""
    opened = at(datetime.fromtimestamp(i.opened_at, UTC).isoformat(), now)
    culprit = f" in {', '.join(f'`{c}`' for c in i.culprit[:MAX_NAMED_FEATURES])}" if i.culprit else ""
    text = (f"Incident {i.id} ({i.status.replace('_', ' ')}), opened {opened}, diagnosed "
            f"{i.category.replace('_', ' ')}{culprit} → {i.action.replace('_', ' ')}")
    if proposal is not None:
        who = f" by {proposal.decided_by}" if proposal.decided_by else ""
        text += f"; its proposal {proposal.id} {_PROPOSAL_STATE.get(proposal.status, proposal.status)}{who}"
        if proposal.outcome:
            text += f" ({proposal.outcome[:160]})"
    if i.postmortem_path:
        text += f". Post-mortem: {i.postmortem_path}"
    return text + "."


def models_text(r: ModelList) -> str:
    if r.error:
        return r.error
    if not r.models:
        return "No model is registered yet; train one with `opsagent train`."
    parts = []
    for m in r.models:
        roles = [f"champion v{m.champion}" if m.champion else "no champion"]
        if m.challenger:
            roles.append(f"challenger v{m.challenger}")
        parts.append(f"{m.name} has {m.n_versions} version{'s' if m.n_versions != 1 else ''} ({', '.join(roles)})")
    more = f"; {r.more_models} more not shown" if r.more_models else ""
    return "; ".join(parts) + more + "."


def comparison_text(r: VersionComparison) -> str:
    if r.error or r.a is None or r.b is None:
        return r.error or "the comparison returned no versions"
    a, b = r.a, r.b
    moved = [f"{k.upper()} {a.test_metrics[k]:.3f} → {b.test_metrics[k]:.3f} ({d:+.3f})" for k, d in r.delta.items()
             if k in ("f1", "auc", "precision", "recall")]
    text = f"{r.model} v{b.version} against v{a.version}: " + ("; ".join(moved) if moved else "no shared test metrics")
    if r.same_training_data is not None:
        text += "; trained on the same data" if r.same_training_data else "; trained on different data"
    if b.gate:
        text += f"; v{b.version}'s gate: {b.gate}"
    if r.note:
        text += f". {r.note}"
    return text + "."


def recall_text(r: IncidentRecall) -> str:
    if r.error:
        return r.error
    if not r.hits:
        return f"Nothing in memory resembles “{r.query}”."
    hits = "; ".join(f"{h.id} ({h.kind}, {h.model}, similarity {h.similarity:.2f}): {h.text[:140]}"
                     for h in r.hits[:3])
    return f"Closest memories to “{r.query}”: {hits}."
