"""The templated (offline) post-mortem writer: every sentence comes from the signals, diagnosis and proposal."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agent.proposals import Evidence, Proposal, ThresholdProposal, finding_fact
from agent.reports import postmortem_facts as facts
from agent.reports.postmortem_actions import action_items
from agent.reports.postmortem_model import Lessons, PostMortem, TimelineEvent
from agent.reports.render import proposal_summary, utc_iso

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
    from agent.policy.infrastructure import replica_count, state_names, workload_unhealthy  # see TYPE_CHECKING

    window = f"{utc_iso(signals.window_since)} to {utc_iso(signals.window_until)}"
    parts = [f"{signals.n_predictions} predictions from {window}, {signals.n_labelled} of them labelled."]
    metrics = (_metric_lines("Realised", signals.realised, signals.reference)
               + _metric_lines("Estimated (label-free)", signals.estimated, signals.reference))
    parts += [f"{line}." for line in metrics] or ["No labels and no label-free estimate: quality impact unknown."]
    parts += facts.decision_lines(signals)
    slices = facts.slice_lines(signals)
    parts += [f"Affected slices: {'; '.join(slices)}."] if slices else []
    # Named, not quoted: the finding's own message is listed once, under Evidence.
    service = [f"{f.kind} on {f.subject}" for f in signals.findings if f.kind in ("latency_slo", "error_rate_slo",
                                                                                   "rejection_spike")]
    parts += [f"Service levels breached: {', '.join(service)} (see Evidence)."] if service else []
    if workload_unhealthy(signals):  # the count is said here, once; the platform's words and events under Evidence
        states = "; ".join(state_names(signals))
        parts.append(f"Serving workload: {replica_count(signals)}." + (f" {states} (the platform's words and events "
                                                                       "under Evidence)." if states else ""))
    return " ".join(parts)


_NUMBER = re.compile(r"[-+]?\d*\.?\d+(?:e[-+]?\d+)?")


def normalised(text: str) -> str:
    """Text compared as a reader sees it: case folded, runs of whitespace one space."""
    return " ".join(text.split()).casefold()


def same_evidence(a: Evidence, b: Evidence) -> bool:
    """One fact: the same identity (``Evidence.fact``, set by whoever measured it), or the same normalised text."""
    return bool(a.fact) and a.fact == b.fact or normalised(a.detail) == normalised(b.detail)


def _evidence(signals: TriageSignals, diagnosis: Diagnosis, proposal: Proposal | None) -> list[Evidence]:
    """The diagnosis's evidence, then the proposal's and the raw findings, each fact once (the fuller wording of
    a repeated fact — more figures — wins)."""
    found = [Evidence(source=f"{f.kind} ({f.severity})", detail=f.message, fact=finding_fact(f.kind, f.subject))
             for f in signals.findings]
    from agent.policy.infrastructure import replica_count  # see TYPE_CHECKING

    # The replica count is the outage's impact and is said under Impact (_impact): not a second time here.
    count = replica_count(signals) if signals.workload is not None else None
    out: list[Evidence] = []
    for e in [*diagnosis.evidence, *(proposal.evidence if proposal else []), *found]:
        if e.source.endswith(" workload") and e.detail == count:
            continue
        same = next((i for i, o in enumerate(out) if same_evidence(e, o)), None)
        if same is None:
            out.append(e)
        elif len(_NUMBER.findall(e.detail)) > len(_NUMBER.findall(out[same].detail)):
            out[same] = e if e.fact else e.model_copy(update={"fact": out[same].fact})
    return out


def _root_cause(diagnosis: Diagnosis) -> str:
    # The evidence is listed once, under its own heading: repeating its first items here duplicated them.
    if not diagnosis.detected:
        return "No incident: the checks found nothing that needs action."
    text = f"{CATEGORY_TEXT.get(diagnosis.category, diagnosis.category)} (confidence {diagnosis.confidence:.2f})."
    if diagnosis.culprit:
        text += f" Culprit: {', '.join(diagnosis.culprit)}."
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
                     now: float | None = None, via: str = "scheduled triage") -> PostMortem:
    """The templated (offline) post-mortem: every sentence comes from the signals, diagnosis and proposal."""
    from agent.reports.postmortem_events import rederive

    evidence = _evidence(signals, diagnosis, proposal)
    written_at = now if now is not None else time.time()
    brain = "offline policy" + (f" (diagnosis: {diagnosis.brain})" if diagnosis.brain != "offline policy" else "")
    decisions = ([f"proposal {proposal.id} filed, awaiting approval"] if proposal
                 else [f"no proposal filed (action: {diagnosis.action})"])
    pm = PostMortem(
        incident_id=incident_id, model=signals.model, title=_title(signals, diagnosis, proposal),
        created_at=written_at, brain=brain, status="open" if diagnosis.detected else "resolved",
        summary=diagnosis.summary, impact=_impact(signals),
        detection=facts.detection(signals, diagnosis, written_at, via),
        root_cause=_root_cause(diagnosis), category=diagnosis.category, action=diagnosis.action,
        culprit=list(diagnosis.culprit), what_changed=facts.what_changed(signals, diagnosis),
        release_diff=signals.release_diff if diagnosis.category in facts.RELEASE_CAUSED else None,
        consistency=facts.consistency(signals, diagnosis), unknowns=facts.unknowns(signals, diagnosis),
        evidence=evidence, proposal_id=proposal.id if proposal else "", proposal_kind=proposal.kind if proposal else "",
        proposal_line=proposal_summary(proposal, in_report=True) if proposal else "",
        timeline=sorted(_clean(timeline), key=lambda e: e.at), links=_links(signals, links),
        drift_plots=list(signals.drift_plots), decisions=decisions,
        action_items=action_items(signals, diagnosis, proposal), lessons=_lessons(signals, diagnosis),
        threshold_updates=threshold_updates(signals, proposal),
        similar_incidents=[f"{h.id} ({h.similarity:.2f}): {_clip(h.text)}" for h in signals.similar_incidents
                           if h.kind in ("incident", "postmortem")],
        recall_note=_recall_note(signals), usage=usage)
    return rederive(pm)


def _clean(timeline: list[TimelineEvent]) -> list[TimelineEvent]:
    """Timeline lines as sentences: no dangling colon where a note's detail was empty, no exact repeats."""
    out: list[TimelineEvent] = []
    for e in timeline:
        text = e.event.strip().rstrip(":;,").strip()
        if text and all((o.at, o.event) != (e.at, text) for o in out):
            out.append(TimelineEvent(at=e.at, event=text))
    return out


def _recall_note(signals: TriageSignals) -> str:
    """What recall found when none of it was an earlier incident (the model's own training runs, decisions)."""
    other = [h for h in signals.similar_incidents if h.kind not in ("incident", "postmortem")]
    if not other:
        return ("Memory recall ran over this model's incidents, post-mortems and runs: none was similar enough to "
                "cite.")
    kinds = sorted({h.kind.replace("_", " ") for h in other})
    return (f"No earlier incident of this kind in memory; recall found {len(other)} other memories of this model "
            f"({', '.join(kinds)}), e.g. {other[0].id}: {_clip(other[0].text, 120)}")


def _lessons(signals: TriageSignals, diagnosis: Diagnosis) -> Lessons:
    """What the signals already say went well, wrong or luckily; outcomes add theirs (postmortem_events)."""
    lessons = Lessons()
    if not diagnosis.detected:
        return lessons
    lessons.went_well.append("Detected by triage from typed monitoring findings, with the evidence linked below.")
    d = signals.decisions
    if d is not None and d.missed_positives + d.false_alarms:
        lessons.went_wrong.append(f"{d.missed_positives + d.false_alarms} labelled decisions in the window were "
                                  "wrong before the incident was opened.")
    if d is not None and d.n_predictions and not d.fallback_answers:
        lessons.got_lucky.append("The serving path stayed up: no answer in the window needed a fallback.")
    features = [c for c in diagnosis.culprit if c in signals.importance]  # a culprit may be a version or a replica
    if features:
        share = sum(signals.importance[c] for c in features)
        if share < 0.1:  # under a tenth of the importance mass: a move the model barely reads
            lessons.got_lucky.append(f"The drifted inputs carry only {share:.0%} of the model's importance.")
    return lessons


def _clip(text: str, n: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
