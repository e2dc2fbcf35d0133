"""What one triage tick means for the model's active incident: new, still ongoing, a cause change held back
or adopted, clearing, or resolved — and whether people should hear about it.

Pure functions of the active incident, this tick's diagnosis and signals, so the rules are read (and tested)
apart from the graph that applies them (``graphs.incident_record``).

**Same cause.** A model has at most one active incident: the diagnosis names one category per window, so a
second category seen while one incident is active is a change of that incident's cause, not a second
incident. The cause is the category, plus the model versions it blames when it blames versions (a second bad
release is a different release to roll back). A different culprit *feature* within the same category is the
same incident: drift spreads across features as it grows; the new culprits are written on the timeline.

**Persistence.** Closing the incident and changing its cause both change what people were told, so both need
the same evidence that the change is real: it must hold for ``incident_clear_ticks`` consecutive ticks. A
tick that diagnoses another cause on a borderline window (the concept/data drift flip-flop) is written on
the timeline with the count, and changes nothing until the new cause holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel

from agent.diagnosis import Diagnosis, TriageSignals
from agent.incidents import IncidentRecord
from agent.policy.infrastructure import outage, problem_lines, replica_count, workload_unhealthy
from ml_core.monitoring.findings import SEVERITY_RANK

TickKind = Literal["quiet", "new", "ongoing", "hold", "recause", "clearing", "resolved"]


class Tick(BaseModel):
    """This tick's verdict on the active incident."""

    kind: TickKind
    cause: str = ""  # this tick's cause ("" when nothing was found)
    severity: str = "ok"  # the worst finding severity of this window
    figures: str = ""  # the window's headline figures
    note: str = ""  # the incident-timeline line
    notify: str = ""  # why people should hear of this tick ("" = recorded only)

    @property
    def touches_incident(self) -> bool:
        return self.kind != "quiet"

    @property
    def writes_report(self) -> bool:
        """Whether this tick's diagnosis is the incident's (so drafting and the post-mortem follow it)."""
        return self.kind in ("new", "ongoing", "recause")


def cause_of(diagnosis: Diagnosis, signals: TriageSignals) -> str:
    """``category`` or ``category@v3,v4`` when the diagnosis blames model versions."""
    known = {v.version for v in signals.recent_versions} | {v.version for v in signals.slo_by_version}
    known |= {v for v in (signals.deploy.champion, signals.deploy.canary, signals.deploy.previous_champion) if v}
    versions = sorted(c for c in diagnosis.culprit if c in known)
    return diagnosis.category + (f"@{','.join(versions)}" if versions else "")


def severity_of(signals: TriageSignals) -> str:
    """The worst finding's severity; a service with no ready replica is critical (nobody is served), a degraded
    workload at least a warning."""
    platform = ("critical" if outage(signals) else "warning") if workload_unhealthy(signals) else "ok"
    return max([f.severity for f in signals.findings] + [platform], key=lambda s: SEVERITY_RANK.get(s, 0))


def figures_of(signals: TriageSignals, *, replicas: bool = True) -> str:
    """'F1 0.612 (250 labelled; reference 0.801), 1,200 predictions' — what an on-call person checks first.
    ``replicas=False`` (a timeline note) names an unhealthy workload without its figures: the post-mortem gives
    the replica states once, under Impact and Evidence."""
    parts = []
    ref = signals.reference.get("f1")
    ref_text = f"; reference {ref:.3f}" if ref is not None else ""
    if (f1 := signals.realised.get("f1")) is not None:
        parts.append(f"F1 {f1:.3f} ({signals.n_labelled:,} labelled{ref_text})")
    elif (est := signals.estimated.get("f1")) is not None:
        parts.append(f"estimated F1 {est:.3f} (no labels yet{ref_text})")
    parts.append(f"{signals.n_predictions:,} predictions")
    drifted = sorted(f.subject for f in signals.findings if f.kind == "feature_drift")
    if drifted:
        parts.append(f"drifted: {', '.join(drifted[:5])}" + (" ..." if len(drifted) > 5 else ""))
    if workload_unhealthy(signals) and replicas:
        parts.append(f"{replica_count(signals)} ({'; '.join(problem_lines(signals)[:2]) or 'none reports a state'})")
    elif workload_unhealthy(signals):
        parts.append(f"serving replicas {'down' if outage(signals) else 'degraded'} (states in the post-mortem)")
    return ", ".join(parts)


def hhmm(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M UTC")


def incident_cause(incident: IncidentRecord) -> str:
    return incident.cause or incident.category  # rows written before causes were kept: the category


def judge(incident: IncidentRecord | None, diagnosis: Diagnosis, signals: TriageSignals, *,
          persist_ticks: int) -> Tick:
    """What this tick means for ``incident`` (the model's active one, or None)."""
    figures = figures_of(signals)
    said = figures_of(signals, replicas=False)  # what the timeline notes say (the Tick keeps the full figures)
    if not diagnosis.detected:
        return _quiet(incident, figures, said, persist_ticks)
    cause, severity = cause_of(diagnosis, signals), severity_of(signals)
    if incident is None:
        return Tick(kind="new", cause=cause, severity=severity, figures=figures,
                    note=f"opened: {cause.replace('_', ' ')}; {said}", notify=f"new incident: {cause}")
    current = incident_cause(incident)
    worse = SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(incident.severity, 0)
    rise = f"severity now {severity} (was {incident.severity})" if worse else ""
    if cause == current:
        note = f"still ongoing since {hhmm(incident.opened_at)} ({incident.ticks + 1} ticks), {said}"
        return Tick(kind="ongoing", cause=cause, severity=severity, figures=figures,
                    note=note + (f"; {rise}" if rise else ""), notify=rise)
    held = incident.pending_ticks + 1 if incident.pending_cause == cause else 1
    if held < persist_ticks:
        note = (f"this tick found {cause} instead of {current} ({held}/{persist_ticks}); kept as {current} until "
                f"the new cause holds for {persist_ticks} consecutive ticks; {said}")
        return Tick(kind="hold", cause=cause, severity=severity, figures=figures, note=note, notify=rise)
    note = f"cause changed from {current} to {cause}: it held for {held} consecutive ticks; {said}"
    return Tick(kind="recause", cause=cause, severity=severity, figures=figures, note=note,
                notify=f"cause changed: {current} → {cause}" + (f"; {rise}" if rise else ""))


def _quiet(incident: IncidentRecord | None, figures: str, said: str, persist_ticks: int) -> Tick:
    if incident is None:
        return Tick(kind="quiet", figures=figures)
    clear = incident.clear_ticks + 1
    if clear < persist_ticks:
        return Tick(kind="clearing", figures=figures,
                    note=f"signals clear ({clear}/{persist_ticks} quiet ticks before it resolves); {said}")
    last = hhmm(incident.last_seen or incident.opened_at)
    return Tick(kind="resolved", figures=figures,
                note=f"resolved: signals clear for {clear} consecutive ticks (last found {last}); {said}",
                notify=f"resolved after {clear} quiet ticks")


def counters_after(incident: IncidentRecord, tick: Tick) -> dict[str, Any]:
    """The incident's tick counters (and worst severity, and cause on a re-label) once ``tick`` is applied."""
    if tick.kind in ("clearing", "resolved"):
        return {"clear_ticks": incident.clear_ticks + 1, "pending_cause": None, "pending_ticks": 0}
    held = tick.kind == "hold"
    out: dict[str, Any] = {
        "ticks": incident.ticks + 1, "clear_ticks": 0,
        "severity": max(incident.severity, tick.severity, key=lambda s: SEVERITY_RANK.get(s, 0)),
        "pending_cause": tick.cause if held else None,
        "pending_ticks": (incident.pending_ticks + 1 if incident.pending_cause == tick.cause else 1) if held else 0}
    if tick.writes_report:
        out["cause"] = tick.cause
    return out
