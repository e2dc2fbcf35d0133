"""Readers of typed signals shared by the offline policy's rules and its runbook planner.

Each reads typed fields only (finding kinds and subjects, serving state, the monitoring pass's per-version
service levels, positive rates and rejected fields): never a finding message, a deploy line or a tool note,
so rewording any of them cannot change a diagnosis.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.diagnosis import TriageSignals
from ml_core.monitoring.check import Finding
from ml_core.monitoring.slo import FIELD_PROBLEMS

HARM_DROP = {"f1": 0.04, "auc": 0.03}  # realised drops that count as harm below the alerting threshold
MIN_PRIOR_MOVE = 0.05  # the monitoring check's default max_prior_shift
MIN_VERSION_LABELS = 30  # labels a version needs before its own F1 can blame (or clear) it
MIN_HARM_LABELS = 100  # the monitoring check's default min_labels: fewer, and realised harm is not measured
RELEASE_F1_MARGIN = 0.05  # a release whose own F1 trails the other versions' by more than this is blamed
# A promoted release whose own realised F1 trails the replaced champion's test F1 by this much is blamed. Wider
# than the canary margin: the comparison is across data sets (window vs test split), and 30 labels are noisy.
REGRESSION_F1_DROP = 0.15


def of(signals: TriageSignals, *kinds: str) -> list[Finding]:
    """The findings of the given kinds, in the monitoring pass's order."""
    return [f for f in signals.findings if f.kind in kinds]


def unique(items: Sequence[str]) -> list[str]:
    """Non-empty items, first occurrence first."""
    return list(dict.fromkeys(i for i in items if i))


def drifted(signals: TriageSignals) -> list[str]:
    """Features with a confirmed drift finding."""
    return unique([f.subject for f in of(signals, "feature_drift")])


def new_release(signals: TriageSignals) -> str | None:
    """The version that went live in the window (a canary taking traffic, or a champion promoted or registered
    in the window), as the deploy gather measured it."""
    return signals.release.version if signals.release else None


def release_is_worse(signals: TriageSignals, version: str, drifted: bool) -> bool:
    """Blame a release only on its own decisions: its realised F1 below the other versions' in the same
    window. A drop the old version shares (drifted inputs) is not the release's fault. Without labels per
    version, blame the release only when the inputs did not drift."""
    own = signals.realised_by_version.get(version)
    rest = [v for k, v in signals.realised_by_version.items() if k != version and v.get("n", 0) >= MIN_VERSION_LABELS]
    if own and own.get("n", 0) >= MIN_VERSION_LABELS and rest:
        n_rest = sum(v["n"] for v in rest)
        f1_rest = sum(v["f1"] * v["n"] for v in rest) / n_rest
        return own["f1"] < f1_rest - RELEASE_F1_MARGIN
    return not drifted


def release_regressed(signals: TriageSignals, drifted: bool) -> tuple[str, float, float] | None:
    """A champion promoted in the window whose own decisions score well below the test F1 of the version it
    replaced: (version, its realised F1, the replaced version's test F1). Needed because monitoring judges
    a champion against its *own* test metrics, which a bad model matches. With drifted inputs the drop may
    be the drift's, so then the release's own test F1 must trail the replaced one's as well."""
    fresh = new_release(signals)
    prev_f1 = signals.previous_reference.get("f1")
    if not fresh or fresh != signals.deploy.champion or prev_f1 is None:
        return None
    own = signals.realised_by_version.get(fresh)
    if not own or own.get("n", 0) < MIN_VERSION_LABELS or own["f1"] >= prev_f1 - REGRESSION_F1_DROP:
        return None
    own_test = signals.reference.get("f1")
    if drifted and (own_test is None or own_test >= prev_f1 - RELEASE_F1_MARGIN):
        return None
    return fresh, own["f1"], prev_f1


def slow_versions(signals: TriageSignals) -> set[str]:
    """Versions that answer too slowly: a latency SLO breach, or an error SLO breach whose version breaches
    latency or timed out in the monitoring pass (a slow release shows up as fallbacks, i.e. errors)."""
    slow = {f.subject for f in of(signals, "latency_slo")}
    service = {v.version: v for v in signals.slo_by_version}
    for f in of(signals, "error_rate_slo"):
        v = service.get(f.subject)
        if v is not None and (v.latency_breached or v.timeouts > 0):
            slow.add(f.subject)
    return slow


def quality_culprits(signals: TriageSignals) -> list[str]:
    """Fields behind rejections, nulls and implausible values: the null_share subject, the fields the service
    rejected for a problem with their value, most frequent first (a whole-request problem, e.g. a bad body, names
    "records"), then the implausible columns: those with a problem of their own (stuck, zeros, out of range)
    before those of broken pairs (a pair's finding names only the column that moved when the check could tell
    which, else both)."""
    names = [f.subject for f in of(signals, "null_share")]
    names += [r.field for r in signals.rejected_fields if r.problem in FIELD_PROBLEMS]
    implausible = of(signals, "implausible_values")
    names += [c for f in implausible if f.problem != "broken_relation" for c in f.columns]
    names += [c for f in implausible if f.problem == "broken_relation" for c in f.columns]
    return unique(names)


def actual_rate_moved(signals: TriageSignals) -> bool:
    """With a prior shift flagged, did the labelled (actual) positive rate move by at least MIN_PRIOR_MOVE?"""
    p = signals.prior
    if not of(signals, "prior_shift") or p is None:
        return False
    if p.actual_positive_rate is None or p.reference_actual_positive_rate is None:
        return False
    return abs(p.actual_positive_rate - p.reference_actual_positive_rate) >= MIN_PRIOR_MOVE


def harmed_metrics(signals: TriageSignals) -> list[str]:
    """The realised metrics down by at least HARM_DROP against the reference."""
    return [metric for metric, margin in HARM_DROP.items()
            if (now := signals.realised.get(metric)) is not None and (ref := signals.reference.get(metric)) is not None
            and ref - now >= margin]


def realised_harm(signals: TriageSignals) -> list[str]:
    """Realised metrics down by at least HARM_DROP against the reference, as evidence lines."""
    return [f"realised {m} {signals.realised[m]:.3f} vs {signals.reference[m]:.3f} on reference"
            for m in harmed_metrics(signals)]


def leaned_on(signals: TriageSignals, features: Sequence[str]) -> bool:
    """Does the model lean on these features? Together they carry more than an equal share of its permutation
    importance (len(features) / number of features): a model that used every input alike would give each 1/k, so
    above that share the features matter more than the average input does."""
    shares = signals.importance
    if not shares:
        return False
    return sum(shares.get(f, 0.0) for f in features) > len(features) / len(shares)


def _auc_drop_and_se(signals: TriageSignals) -> tuple[float, float] | None:
    """How far the realised AUC fell below the reference's, and the Hanley-McNeil standard error of an AUC on the
    window's positives and negatives; None without labelled AUC or the actual positive rate."""
    now, ref, p = signals.realised.get("auc"), signals.reference.get("auc"), signals.prior
    rate = p.actual_positive_rate if p is not None else None
    if now is None or ref is None or rate is None or signals.n_labelled < MIN_HARM_LABELS:
        return None
    n_pos, n_neg = max(rate * signals.n_labelled, 1.0), max((1 - rate) * signals.n_labelled, 1.0)
    a = min(max(now, 0.5), 0.999)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = ((a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (n_pos * n_neg)) ** 0.5
    return ref - now, se


def auc_drop_upper_bound(signals: TriageSignals) -> float | None:
    """A one-sided 95 % upper confidence bound on how far the realised AUC fell below the reference's."""
    found = _auc_drop_and_se(signals)
    return None if found is None else found[0] + 1.645 * found[1]


def auc_harm_shown(signals: TriageSignals) -> bool:
    """Do the labels show a harmful AUC drop (HARM_DROP) with 95 % confidence (the drop's lower bound above it)?
    Without a labelled AUC nothing is shown."""
    found = _auc_drop_and_se(signals)
    return found is not None and found[0] - 1.645 * found[1] >= HARM_DROP["auc"]


def harm_ruled_out(signals: TriageSignals) -> bool:
    """Do the labels rule out a harmful AUC drop (HARM_DROP) with 95 % confidence? A window's realised metric is
    noisy: "performance holds" is only shown when even the upper bound of the drop is below the harm margin."""
    bound = auc_drop_upper_bound(signals)
    return bound is not None and bound < HARM_DROP["auc"]
