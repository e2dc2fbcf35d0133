"""Rule 0 of the offline policy: the platform under the model, told apart from the model.

A replica that crashed, restarts, cannot be scheduled, cannot pull its image or fails readiness explains the
service-level findings — errors and fallbacks (requests the dying replica failed or timed out on) and latency
(a replica that answers while restarting or unready) — and it explains a window that just went quiet (no
predictions are logged by a service that is not there). None of that says anything about the model: a retrain or
a rollback would ship another model onto the same broken platform. So when the workload is unhealthy and every
finding is one it explains, the cause is ``infrastructure`` and the action is to page the platform's owner with
the replica states and events.

Findings a platform fault cannot produce — drifted inputs, a performance or prior shift on the records that were
scored, rejected or implausible values, a regression confined to a release while the versions beside it on the
same replicas serve fine — are the model's (or its data's): the model rules decide, and the unhealthy workload is
named in their evidence. Except in an outage (replicas desired, none ready): then nothing the model does reaches
anyone, restoring the service comes first, and the model's findings are listed for the triage after it is back.

No threshold: the rule reads the backend's typed states (``ml_core.deploy.workload``) and finding kinds only.
"""

from __future__ import annotations

from agent.diagnosis import TriageSignals
from agent.policy.readers import new_release, unique
from agent.policy.verdict import Verdict
from agent.proposals import Evidence
from ml_core.deploy.workload import PodProblem
from ml_core.monitoring.check import Finding

# What a crashing, restarting or unready replica produces in the monitoring pass.
SERVICE_KINDS = frozenset({"latency_slo", "error_rate_slo"})
MAX_LISTED = 5  # replicas and events named in a verdict or its evidence: the first few say what an engineer checks


def problems(signals: TriageSignals) -> list[PodProblem]:
    """The workload's problems that bear on this window: a restart before the window began is history (the
    replica has been healthy since), every other state is current."""
    w = signals.workload
    if w is None:
        return []
    return [p for p in w.problems if p.reason != "restarts" or p.since is None or p.since >= signals.window_since]


def workload_unhealthy(signals: TriageSignals) -> bool:
    """A replica in a bad state in this window, or fewer ready replicas than desired."""
    w = signals.workload
    return w is not None and (bool(problems(signals)) or w.ready < w.desired)


def outage(signals: TriageSignals) -> bool:
    """Replicas are desired and none is ready: the service is down."""
    w = signals.workload
    return w is not None and w.desired > 0 and w.ready == 0


def _confined_to_release(signals: TriageSignals, finding: Finding) -> bool:
    """An SLO breach by a release that went live in the window while another version served on the same replicas
    without one: the platform is common to both versions, so the difference is the release's."""
    release = new_release(signals)
    if release is None or finding.subject != release:
        return False
    return any(v.version not in (release, "all") and v.n > 0 and not (v.latency_breached or v.error_rate_breached)
               for v in signals.slo_by_version)


def unexplained(signals: TriageSignals) -> list[Finding]:
    """The findings an unhealthy workload does not explain."""
    return [f for f in signals.findings if f.kind not in SERVICE_KINDS or _confined_to_release(signals, f)]


def problem_lines(signals: TriageSignals) -> list[str]:
    """One line per troubled replica: its state, restarts and the platform's words (``kubectl get pods``)."""
    return [f"{p.pod}: {p.reason.replace('_', ' ')}" + (f", {p.restarts} restart(s)" if p.restarts else "")
            + (f" ({p.detail})" if p.detail else "") for p in problems(signals)[:MAX_LISTED]]


def state_lines(signals: TriageSignals, detail_chars: int = 48) -> list[str]:
    """The troubled replicas' states with the platform's words clipped: for a summary, which names what happened
    and leaves the whole text to the evidence (``problem_lines``)."""
    return [f"{p.pod}: {p.reason.replace('_', ' ')}" + (f", {p.restarts} restart(s)" if p.restarts else "")
            + (f" ({_clip(p.detail, detail_chars)})" if p.detail else "") for p in problems(signals)[:MAX_LISTED]]


def state_names(signals: TriageSignals) -> list[str]:
    """``'churn-scoring (pid 7628): exited'`` per troubled replica: which, and in what state, without the details."""
    return [f"{p.pod}: {p.reason.replace('_', ' ')}" for p in problems(signals)[:MAX_LISTED]]


def _clip(text: str, n: int) -> str:
    """At most ``n`` characters, cut at the first clause ("; ") when it fits, else at a word."""
    if len(text) <= n:
        return text
    clause = text.split("; ", 1)[0]
    return (clause if len(clause) < n else text[:n].rsplit(" ", 1)[0]).rstrip(" ;:,") + "…"


def event_lines(signals: TriageSignals) -> list[str]:
    """One line per recent Warning event, newest first (``kubectl get events``)."""
    w = signals.workload
    warnings = [e for e in w.events if e.type == "Warning"][::-1][:MAX_LISTED] if w is not None else []
    return [f"event {e.reason} on {e.object or 'the workload'}" + (f" ×{e.count}" if e.count > 1 else "")
            + (f": {e.message}" if e.message else "") for e in warnings]


def replica_lines(signals: TriageSignals) -> list[str]:
    """The troubled replicas, then the recent Warning events: what an engineer would look at first."""
    return problem_lines(signals) + event_lines(signals)


def replica_count(signals: TriageSignals) -> str:
    """'0/1 replicas ready, 2 restart(s)', or that the backend did not say."""
    w = signals.workload
    return (f"{w.ready}/{w.desired} replicas ready, {w.restarts} restart(s)" if w is not None
            else "not reported by the deployment backend")


def workload_evidence(signals: TriageSignals) -> list[Evidence]:
    """The replica states and events, as evidence, when the workload is unhealthy."""
    if not workload_unhealthy(signals) or signals.workload is None:
        return []
    source = f"{signals.workload.backend} workload"
    out = [Evidence(source=source, detail=replica_count(signals))]
    return out + [Evidence(source=source, detail=line) for line in replica_lines(signals)]


def infrastructure(signals: TriageSignals) -> Verdict | None:
    """Rule 0: an unhealthy workload that explains every finding (or an outage) → ``infrastructure``."""
    if not workload_unhealthy(signals) or signals.workload is None:
        return None
    others = unexplained(signals)
    if others and not outage(signals):
        return None  # a model cause beside a degraded platform: the model rules decide, the platform is evidence
    w = signals.workload
    # The whole platform text is the evidence (workload_evidence); the sentence names each state and its gist.
    states = "; ".join(state_lines(signals)[:3]) or "no replica reports a state"
    service = [f for f in signals.findings if f.kind in SERVICE_KINDS]
    reason = f"{w.ready} of {w.desired} serving replicas ready on {w.backend}: {states}"
    if service:
        reason += f"; the {', '.join(unique([f.kind for f in service]))} breaches are explained by it"
    if others:
        reason += (f"; also flagged, to triage again once the service is back: "
                   f"{', '.join(unique([f'{f.kind} {f.subject}' for f in others]))}")
    culprit = unique([p.pod for p in problems(signals)])
    return Verdict("infrastructure", culprit, "investigate_infrastructure", reason,
                   len(problems(signals)) + (w.ready < w.desired) + len(service))
