"""The templated (offline) post-mortem writer: every sentence comes from the signals, diagnosis and proposal."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.proposals import (
    Evidence,
    FixDataProposal,
    InfrastructureProposal,
    PromoteProposal,
    Proposal,
    RetrainProposal,
    RollbackProposal,
    ThresholdProposal,
)
from agent.reports.postmortem_model import PostMortem, TimelineEvent
from agent.reports.render import utc_iso

if TYPE_CHECKING:  # types only: importing them pulls in chromadb and the monitoring stack
    from agent.diagnosis import Diagnosis, TriageSignals

CATEGORY_TEXT = {
    "none": "No root cause identified",
    "data_drift": "Data drift: the inputs moved away from the training distribution",
    "concept_drift": "Concept drift: the relation between the features and the label changed",
    "label_shift": "Label shift: the base rate of the positive class changed",
    "data_quality": "Data quality: an upstream feed delivers nulls or broken values",
    "latency": "Latency: the serving path is slower than its SLO",
    "errors": "Errors: the serving path fails requests",
    "bad_release": "Bad release: a recently deployed version performs worse than its predecessor",
    "infrastructure": "Infrastructure: the serving replicas crashed, restart or are not ready; the model is not the "
                      "cause",
}
_METRIC_ORDER = ("f1", "auc", "precision", "recall")
# A confirmed drift whose statistic sits this close (relative) to its threshold is borderline.
_BORDERLINE = 0.25


def _metric_lines(kind: str, values: dict[str, float], reference: dict[str, float]) -> list[str]:
    """One sentence per kind, only the metrics the champion's test set also has (counts and rates are noise)."""
    names = [m for m in _METRIC_ORDER if m in values and m in reference]
    names += sorted((set(values) & set(reference)) - set(names))
    if not names:
        return []
    parts = [f"{m} {values[m]:.3f} ({values[m] - reference[m]:+.3f} vs {reference[m]:.3f})" for m in names]
    return [f"{kind}: " + ", ".join(parts)]


def _impact(signals: TriageSignals) -> str:
    from agent.policy.infrastructure import replica_count, replica_lines, workload_unhealthy  # see TYPE_CHECKING

    window = f"{utc_iso(signals.window_since)} to {utc_iso(signals.window_until)}"
    parts = [f"{signals.n_predictions} predictions from {window}, {signals.n_labelled} of them labelled."]
    metrics = (_metric_lines("Realised", signals.realised, signals.reference)
               + _metric_lines("Estimated (label-free)", signals.estimated, signals.reference))
    parts += [f"{line}." for line in metrics] or ["No labels and no label-free estimate: quality impact unknown."]
    parts += [f.message + "." for f in signals.findings if f.kind in ("latency_slo", "error_rate_slo",
                                                                       "rejection_spike")]
    if workload_unhealthy(signals):  # which replicas, in which state, which events: what the platform reported
        parts += [f"Serving workload: {replica_count(signals)}."] + [f"{line}." for line in replica_lines(signals)]
    return " ".join(parts)


def _evidence(signals: TriageSignals, diagnosis: Diagnosis, proposal: Proposal | None) -> list[Evidence]:
    """The diagnosis's evidence, then the proposal's and the raw findings, without repeating a detail."""
    found = [Evidence(source=f"{f.kind} ({f.severity})", detail=f.message) for f in signals.findings]
    out: list[Evidence] = []
    for e in [*diagnosis.evidence, *(proposal.evidence if proposal else []), *found]:
        if all(e.detail != o.detail for o in out):
            out.append(e)
    return out


def _root_cause(diagnosis: Diagnosis, evidence: list[Evidence]) -> str:
    if not diagnosis.detected:
        return "No incident: the checks found nothing that needs action."
    text = f"{CATEGORY_TEXT.get(diagnosis.category, diagnosis.category)} (confidence {diagnosis.confidence:.2f})."
    if diagnosis.culprit:
        text += f" Culprit: {', '.join(diagnosis.culprit)}."
    if evidence:
        text += " Evidence: " + "; ".join(e.detail for e in evidence[:3]) + "."
    return text


def _links(signals: TriageSignals, extra: dict[str, str] | None) -> dict[str, str]:
    links: dict[str, str] = {}
    deploy = signals.deploy
    for role, version in (("champion", deploy.champion), ("canary", deploy.canary),
                          ("previous champion", deploy.previous_champion)):
        if version:
            links[f"{role} v{version}"] = f"models:/{signals.model}/{version}"
    if signals.drift_report_dir:
        report = Path(signals.drift_report_dir)
        html = report / "report.html"
        links["drift report"] = str(html if report.is_dir() and html.exists() else report)
    links.update(extra or {})  # the caller knows run ids, tracking db and serving url: those win
    return links


def _proposal_items(p: Proposal) -> list[str]:
    if isinstance(p, RetrainProposal):
        since = utc_iso(p.window_since) if p.window_since is not None else "the beginning"
        return [f"Review retrain proposal {p.id} (records since {since}, {p.epochs} epochs; edit the window or "
                "epochs if needed) and approve or reject it",
                f"After approval, watch the canary at {p.canary_weight:.0%} of traffic: promote only if it passes the "
                f"{p.gate_metric} gate (+{p.gate_min_gain:g}) and live metrics hold, else roll back to champion "
                f"v{p.champion_version}"]
    if isinstance(p, RollbackProposal):
        return [f"Approve rollback proposal {p.id}: take v{p.bad_version} out of traffic, keep "
                f"v{p.target_version or '-'} serving",
                f"Find out why v{p.bad_version} regressed before releasing it again"]
    if isinstance(p, ThresholdProposal):
        return [f"Review threshold proposal {p.id}: v{p.version} decision threshold {p.current_threshold:.2f} -> "
                f"{p.proposed_threshold:.2f} as a {p.canary_weight:.0%} canary",
                "Watch precision and recall on the canary before promoting it"]
    if isinstance(p, FixDataProposal):
        return [f"Fix the upstream feed for {', '.join(p.features) or 'the affected features'}: {p.problem}",
                f"Acknowledge proposal {p.id} once the feed is fixed, then re-run triage to confirm a clean screen"]
    if isinstance(p, PromoteProposal):
        return [f"Review promote proposal {p.id}: make v{p.version} the champion"]
    if isinstance(p, InfrastructureProposal):
        return [f"Platform owner: look at {p.model}'s serving replicas on {p.backend} ({p.replicas}): "
                + ("; ".join(p.problems[:3]) or "fewer replicas ready than desired"),
                f"Acknowledge proposal {p.id} once paged, then re-run triage when the service is back"]
    return []


_NO_PROPOSAL_ITEMS = {
    "retrain": "File a retrain proposal on the recent window (none was filed)",
    "rollback": "Roll the canary back to the champion (no proposal was filed)",
    "fix_data": "Fix the upstream feed for {culprit} (no proposal was filed)",
    "retune_threshold": "Propose a retuned decision threshold (none was filed)",
    "investigate_infrastructure": "Page the platform owner about the serving replicas (no proposal was filed)",
    "none": "Keep watching: the next scheduled triage re-checks the model",
}


def action_items(signals: TriageSignals, diagnosis: Diagnosis, proposal: Proposal | None) -> list[str]:
    """What people should do next, from the action and the proposal that was filed for it."""
    items = _proposal_items(proposal) if proposal else [
        _NO_PROPOSAL_ITEMS[diagnosis.action].format(culprit=", ".join(diagnosis.culprit) or "the affected features")]
    if diagnosis.action == "fix_data":
        items.append("Do not retrain on this window: it holds the broken records")
    if diagnosis.action == "investigate_infrastructure":
        items.append("Do not retrain or roll back: the model did not cause this, and a new version would land on "
                     "the same replicas")
    if diagnosis.detected and not signals.realised:
        items.append("Collect labels for this window to confirm the realised impact")
    return items


def threshold_updates(signals: TriageSignals, proposal: Proposal | None) -> list[str]:
    """Borderline drift statistics (confirm before acting on them) and any proposed decision threshold."""
    out = []
    for f in signals.findings:
        stat, limit = f.evidence.get("statistic"), f.evidence.get("threshold")
        if f.kind != "feature_drift" or stat is None or not limit:
            continue
        margin = abs(stat - limit) / limit
        if margin < _BORDERLINE:
            out.append(f"{f.subject}: drift statistic {stat:.3g} is within {margin:.0%} of its threshold {limit:g}; "
                       "borderline, confirm on the next window before tuning this threshold")
    if isinstance(proposal, ThresholdProposal):
        out.append(f"decision threshold of {proposal.model} v{proposal.version}: {proposal.current_threshold:.2f} -> "
                   f"{proposal.proposed_threshold:.2f} (proposal {proposal.id}, awaiting approval)")
    return out


def _title(signals: TriageSignals, diagnosis: Diagnosis, proposal: Proposal | None) -> str:
    if not diagnosis.detected:
        return f"{signals.model}: no incident"
    what = CATEGORY_TEXT.get(diagnosis.category, diagnosis.category).split(":")[0].lower()
    where = f" in {', '.join(diagnosis.culprit)}" if diagnosis.culprit else ""
    then = f" ({proposal.kind} proposed)" if proposal else f" (action: {diagnosis.action})"
    return f"{signals.model}: {what}{where}{then}"


def build_postmortem(signals: TriageSignals, diagnosis: Diagnosis, proposal: Proposal | None, *, incident_id: str,
                     timeline: list[TimelineEvent], usage: str, links: dict[str, str] | None = None,
                     now: float | None = None) -> PostMortem:
    """The templated (offline) post-mortem: every sentence comes from the signals, diagnosis and proposal."""
    evidence = _evidence(signals, diagnosis, proposal)
    brain = "offline policy" + (f" (diagnosis: {diagnosis.brain})" if diagnosis.brain != "offline policy" else "")
    decisions = ([f"proposal {proposal.id} filed, awaiting approval"] if proposal
                 else [f"no proposal filed (action: {diagnosis.action})"])
    return PostMortem(
        incident_id=incident_id, model=signals.model, title=_title(signals, diagnosis, proposal),
        created_at=now if now is not None else time.time(), brain=brain, summary=diagnosis.summary,
        impact=_impact(signals), root_cause=_root_cause(diagnosis, evidence), evidence=evidence,
        timeline=sorted(timeline, key=lambda e: e.at), links=_links(signals, links),
        drift_plots=list(signals.drift_plots), decisions=decisions,
        action_items=action_items(signals, diagnosis, proposal),
        threshold_updates=threshold_updates(signals, proposal),
        similar_incidents=[f"{h.id} ({h.similarity:.2f}): {_clip(h.text)}" for h in signals.similar_incidents],
        usage=usage)


def _clip(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
