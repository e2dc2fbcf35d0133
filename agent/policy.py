"""The offline policy: a deterministic diagnosis from typed findings, and a runbook planner for read-only tools.

It decides when no LLM is configured or the LLM fails, so it reads typed fields (finding kinds, subjects,
evidence, serving state) and the text our own code wrote (finding messages, tool notes) — never instructions.
Rules, in priority order (each fault the simulator injects lands on exactly one):

1. a latency or error SLO breach names a version → ``latency`` / ``errors``, roll it back (a slow release
   shows up as fallbacks, i.e. errors, whose version breaches latency in ``slo_status`` or times out);
2. rejected requests or nulls → ``data_quality``, fix the data, blame the fields the service rejected;
3. a realised performance drop → ``bad_release`` if a version went live in the window, else ``data_drift``
   with drifted features, else ``concept_drift``; retrain (or roll back the release);
4. the *actual* positive rate moved while performance held → ``label_shift``, retune the threshold (label
   shift drags feature distributions along, so feature drift does not argue against it);
5. feature drift → ``data_drift``: retrain when it costs performance (an estimated drop, or realised F1/AUC
   down by ``HARM_DROP``), otherwise watch (action none): a benign drift must not trigger a retrain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from agent.diagnosis import Action, Diagnosis, TriageSignals
from agent.proposals import Evidence
from ml_core.data.schema import CHURN_SCHEMA
from ml_core.monitoring.check import Finding
from ml_core.simulator.scenario import Category

BRAIN = "offline policy"
MAX_PLANNED_CALLS = 4
HARM_DROP = {"f1": 0.04, "auc": 0.03}  # realised drops that count as harm below the alerting threshold
MIN_PRIOR_MOVE = 0.05  # the monitoring check's default max_prior_shift
MIN_VERSION_LABELS = 30  # labels a version needs before its own F1 can blame (or clear) it
RELEASE_F1_MARGIN = 0.05  # a release whose own F1 trails the other versions' by more than this is blamed
# A promoted release whose own realised F1 trails the replaced champion's test F1 by this much is blamed. Wider
# than the canary margin: the comparison is across data sets (window vs test split), and 30 labels are noisy.
REGRESSION_F1_DROP = 0.15

_ACTUAL_RATE = re.compile(r"actual ([\d.]+) vs ([\d.]+)")
_REJECTED_FIELD = re.compile(r"([A-Za-z_][\w.]*) \((?:missing|null|wrong_type|out_of_range|unknown_category)\)")
_NEW_VERSION = re.compile(r"\bv(\w+)\b.*new in this window")


class PlannedCall(BaseModel):
    """One read-only tool call the runbook wants next, and why."""

    name: str
    args: dict[str, Any]
    why: str


def _of(signals: TriageSignals, *kinds: str) -> list[Finding]:
    return [f for f in signals.findings if f.kind in kinds]


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def new_release(signals: TriageSignals) -> str | None:
    """The version that went live in the window: a serving canary, or a champion changed in the window."""
    d = signals.deploy
    if d.canary and d.canary_weight > 0:
        return d.canary
    fresh = {m.group(1) for line in signals.recent_deploys if (m := _NEW_VERSION.search(line))}
    changed = bool(d.updated_at and d.updated_at >= signals.window_since and d.previous_champion
                   and d.previous_champion != d.champion)
    return d.champion if d.champion and (d.champion in fresh or changed) else None


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
    d = signals.deploy
    fresh = new_release(signals)
    prev_f1 = signals.previous_reference.get("f1")
    if not fresh or fresh != d.champion or prev_f1 is None:
        return None
    own = signals.realised_by_version.get(fresh)
    if not own or own.get("n", 0) < MIN_VERSION_LABELS or own["f1"] >= prev_f1 - REGRESSION_F1_DROP:
        return None
    own_test = signals.reference.get("f1")
    if drifted and (own_test is None or own_test >= prev_f1 - RELEASE_F1_MARGIN):
        return None
    return fresh, own["f1"], prev_f1


def slow_versions(signals: TriageSignals) -> set[str]:
    """Versions whose fallbacks were timeouts or whose p95 breached latency, per the tool notes (slo_status)."""
    slow = {f.subject for f in _of(signals, "latency_slo")}
    text = "\n".join(signals.notes)
    for f in _of(signals, "error_rate_slo"):
        v = re.escape(f.subject)
        if (re.search(rf"\bv?{v} p95 [\d.]+ ms >", text)
                or re.search(rf'"version":\s*"v?{v}"[^{{}}]*"latency_breached":\s*true', text)
                or re.search(rf"\bv?{v}\b[^\n]{{0,120}}time(?:d)? ?out", text, re.IGNORECASE)):
            slow.add(f.subject)
    return slow


def quality_culprits(signals: TriageSignals) -> list[str]:
    """Fields behind rejections and nulls: null_share subjects, then the fields the service rejected.

    Rejected fields come from the notes' ``field (problem)`` pairs (the monitor's "rejected fields" line,
    or a tool's error list), and from schema feature names on a "rejected field" line.
    """
    names = [f.subject for f in _of(signals, "null_share")]
    for line in signals.notes:
        names += _REJECTED_FIELD.findall(line)
        if "rejected field" in line.lower():
            names += sorted((n for n in CHURN_SCHEMA.feature_names if re.search(rf"\b{re.escape(n)}\b", line)),
                            key=line.find)
    return [n for n in _unique(names) if n not in ("records", "requests")]


def actual_rate_moved(signals: TriageSignals) -> bool:
    """Did the labelled positive rate move? (The prior_shift evidence holds only predicted rates.)"""
    for f in _of(signals, "prior_shift"):
        if (m := _ACTUAL_RATE.search(f.message)) and abs(float(m.group(1)) - float(m.group(2))) >= MIN_PRIOR_MOVE:
            return True
    return False


def realised_harm(signals: TriageSignals) -> list[str]:
    """Realised metrics down by at least HARM_DROP against the reference, as evidence lines."""
    out = []
    for metric, margin in HARM_DROP.items():
        now, ref = signals.realised.get(metric), signals.reference.get(metric)
        if now is not None and ref is not None and ref - now >= margin:
            out.append(f"realised {metric} {now:.3f} vs {ref:.3f} on reference")
    return out


def _decide(signals: TriageSignals) -> tuple[Category, list[str], Action, str, int]:
    """(category, culprit, action, one-sentence reason, number of agreeing signals)."""
    drifted = _unique([f.subject for f in _of(signals, "feature_drift")])
    slo = _of(signals, "latency_slo", "error_rate_slo")
    if slo:
        slow = slow_versions(signals)
        versions = _unique([f.subject for f in slo if f.subject in slow] or [f.subject for f in slo])
        fresh = new_release(signals)
        agree = len(slo) + (fresh in versions)
        if slow:
            return "latency", versions, "rollback", f"version {', '.join(versions)} answers too slowly", agree
        return "errors", versions, "rollback", f"version {', '.join(versions)} fails on requests", agree
    quality = _of(signals, "rejection_spike", "null_share")
    if quality:
        fields = quality_culprits(signals)
        where = f" in {', '.join(fields)}" if fields else ""
        return ("data_quality", fields, "fix_data", f"a broken input feed: rejected or null values{where}",
                len(quality) + bool(fields))
    estimated = _of(signals, "estimated_performance_drop")
    if regressed := release_regressed(signals, bool(drifted)):
        version, own_f1, prev_f1 = regressed
        return ("bad_release", [version], "rollback", f"version {version} went live and its decisions score F1 "
                f"{own_f1:.3f}, below the {prev_f1:.3f} test F1 of the version it replaced", 2)
    if _of(signals, "performance_drop"):
        fresh = new_release(signals)
        if fresh and release_is_worse(signals, fresh, bool(drifted)):
            return "bad_release", [fresh], "rollback", f"performance fell after version {fresh} went live", 2
        if drifted:
            return ("data_drift", drifted, "retrain", f"performance fell while {', '.join(drifted)} drifted",
                    1 + len(drifted) + len(estimated))
        # The label-free estimate cannot see concept drift, so its silence agrees with it.
        return "concept_drift", [], "retrain", "performance fell while the inputs did not shift", 1 + (not estimated)
    if actual_rate_moved(signals):
        return ("label_shift", [], "retune_threshold", "the share of positives changed while performance held",
                1 + len(_of(signals, "prediction_drift")) + bool(drifted))
    if _of(signals, "prior_shift") and not drifted:
        return "label_shift", [], "retune_threshold", "the predicted positive rate moved with no input drift", 1
    if drifted:
        harm = realised_harm(signals)
        if estimated or harm:
            return ("data_drift", drifted, "retrain", "the inputs drifted and performance suffers",
                    len(drifted) + len(estimated) + len(harm))
        return ("data_drift", drifted, "none", "the inputs drifted but performance holds: watch, do not retrain",
                len(drifted))
    if estimated:  # CBPE alone, no drifted feature: the labels must confirm it before anyone retrains
        return ("data_drift", [], "none", "estimated performance fell with no drifted feature: wait for labels",
                len(estimated))
    if signals.findings:  # prediction drift alone: nothing to act on yet
        return "data_drift", [], "none", "the score distribution moved without a known cause: watch", 1
    return "none", [], "none", "nothing flagged", 0


def diagnose(signals: TriageSignals) -> Diagnosis:
    """The offline diagnosis of one window: category, culprit, action, evidence and a confidence."""
    category, culprit, action, reason, agree = _decide(signals)
    evidence = [Evidence(source=f"monitoring {f.kind}", detail=f.message) for f in signals.findings]
    if category in ("data_drift", "concept_drift") and action != "none":
        evidence += [Evidence(source="realised performance", detail=line) for line in realised_harm(signals)]
    if category == "bad_release":
        if regressed := release_regressed(signals, bool(_of(signals, "feature_drift"))):
            evidence.append(Evidence(source="realised performance", detail=(
                f"v{regressed[0]}'s own decisions: realised f1 {regressed[1]:.3f}; the version it replaced scored "
                f"{regressed[2]:.3f} on its test set")))
        evidence += [Evidence(source="recent deploys", detail=line) for line in signals.recent_deploys[:3]]
    if signals.drift_report_dir and category == "data_drift":
        evidence.append(Evidence(source="drift report", detail=signals.drift_report_dir))
    hits = signals.similar_incidents[:3]
    evidence += [Evidence(source=f"memory {h.id}", detail=f"similar past {h.kind} (similarity {h.similarity:.2f}): "
                                                          f"{h.text[:200]}") for h in hits]
    if category == "none":
        return Diagnosis(detected=False, summary=f"{signals.model}: {signals.n_predictions} predictions checked, "
                         "nothing flagged.", evidence=evidence, confidence=0.9, brain=BRAIN)
    past = f" Similar past incidents: {', '.join(h.id for h in hits)}." if hits else ""
    todo = {"none": "No action yet; keep watching.", "retrain": "Proposed: retrain.",
            "rollback": f"Proposed: roll back {', '.join(culprit) or 'the release'}.",
            "fix_data": "Proposed: fix the upstream data feed.",
            "retune_threshold": "Proposed: retune the decision threshold."}[action]
    summary = f"{signals.model}: {category.replace('_', ' ')}: {reason}. {todo}{past}"
    confidence = min(0.95, 0.55 + 0.1 * agree + (0.05 if culprit else 0.0))
    return Diagnosis(detected=True, category=category, culprit=culprit, action=action, summary=summary,
                     evidence=evidence, confidence=round(confidence, 2), brain=BRAIN)


def _minutes(signals: TriageSignals) -> float:
    return max(1.0, round((signals.window_until - signals.window_since) / 60, 1))


def plan(signals: TriageSignals) -> list[PlannedCall]:
    """The runbook for this window's findings, in order (``next_tool`` skips what is done)."""
    if not signals.findings:
        return []
    category, culprit, _, _, _ = _decide(signals)
    model, minutes, d = signals.model, _minutes(signals), signals.deploy
    calls: list[PlannedCall] = []
    if not d.champion:
        calls.append(PlannedCall(name="model_status", args={"model": model}, why="find the champion and canary"))
    if category in ("latency", "errors", "bad_release"):
        if not slow_versions(signals) and category != "bad_release":
            calls.append(PlannedCall(name="slo_status", args={"model": model, "window_minutes": minutes},
                                     why="per-version latency: a timeout and a crash both show as errors"))
        if not signals.recent_deploys:
            calls.append(PlannedCall(name="recent_deploys", args={"model": model, "limit": 5},
                                     why="which version went live, and when"))
        suspect = culprit[0] if culprit else d.canary
        other = d.champion if suspect != d.champion else d.previous_champion
        if suspect and other and suspect != other:
            calls.append(PlannedCall(name="compare_versions",
                                     args={"model": model, "version_a": other, "version_b": suspect},
                                     why=f"what changed between v{other} and v{suspect}"))
    elif category == "data_quality":
        calls.append(PlannedCall(name="slo_status", args={"model": model, "window_minutes": minutes},
                                 why="how many requests the service rejected"))
        calls.append(_recall(signals, f"rejected requests or nulls in {', '.join(culprit) or 'input fields'}"))
    else:
        if category in ("concept_drift", "label_shift") or (category == "data_drift" and signals.n_labelled):
            calls.append(PlannedCall(name="performance", args={"model": model, "window_minutes": minutes},
                                     why="realised and estimated performance over the window"))
        calls.append(PlannedCall(name="training_run", args={"model": model, "version": d.champion or "champion"},
                                 why="the champion's training data fingerprint and metrics, to cite"))
        topic = f"drift in {', '.join(culprit)}" if culprit else category.replace("_", " ")
        calls.append(_recall(signals, f"{topic} on {model}"))
    # Triage recalls memory before investigating; a second, narrower query only helps when that found nothing.
    if signals.similar_incidents:
        calls = [c for c in calls if c.name != "recall_incidents"]
    return calls[:MAX_PLANNED_CALLS]


def _recall(signals: TriageSignals, query: str) -> PlannedCall:
    return PlannedCall(name="recall_incidents", args={"query": query, "model": signals.model, "k": 3},
                       why="similar past incidents and what fixed them")


def next_tool(signals: TriageSignals, done: Sequence[str]) -> PlannedCall | None:
    """The next read-only tool to call, or None when the investigation is complete (at most 4 calls)."""
    if len(done) >= MAX_PLANNED_CALLS:
        return None
    return next((c for c in plan(signals) if c.name not in done), None)
