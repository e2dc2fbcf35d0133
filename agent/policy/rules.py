"""The offline diagnosis: which rule fires for one window's typed signals, and the Diagnosis it writes.

Rules, in priority order (each fault the simulator injects lands on exactly one):

0. the serving workload is unhealthy (a replica exited, crash-looping, OOM-killed, unready, pending, restarted in
   the window, or fewer ready than desired) and it explains every finding, or no replica is ready at all →
   ``infrastructure``, page the platform's owner (``agent.policy.infrastructure`` gives the argument);
1. a latency or error SLO breach names a version → ``latency`` / ``errors``, roll it back (a slow release
   shows up as fallbacks, i.e. errors, whose version breaches latency or times out in the monitoring pass);
2. rejected requests, nulls or implausible values (a column stuck at a constant, a jump in zeros or in values
   far outside the reference's range, a near-deterministic pair that broke) → ``data_quality``, fix the data,
   blame the columns named (broken data comes before drift: a retrain on it would learn the breakage);
3. a release judged against the version it replaced on the same records (``ml_core.monitoring.shadow``):
   significantly more errors (McNemar, false-alarm rate 0.01), or before labels an estimated F1 drop while the
   inputs hold still → ``bad_release``, roll it back;
4. a realised performance drop → ``bad_release`` if a version went live in the window and the shadow could not
   clear it, else ``data_drift`` with drifted features, else ``concept_drift``; retrain (or roll back the release)
   — unless the actual positive rate moved and the labels do not show the AUC fell: F1 and precision move with
   the share of positives while AUC does not, so that drop is the label shift's (rule 5);
5. the *actual* positive rate moved while performance held → ``label_shift``, retune the threshold (label
   shift drags feature distributions along, so feature drift does not argue against it); then a slice whose
   decisions went wrong significantly more often than on held-out data while the inputs held →
   ``concept_drift`` named by the slice (``Home=rent``), retrain;
6. feature drift → ``data_drift``: retrain when it costs performance (an estimated drop, or realised F1/AUC
   down by ``HARM_DROP``). When the model leans on the drifted features (permutation importance) and its scores
   moved, retrain too if the labels cannot rule out a harmful drop (95 % bound), or — with too few labels to
   measure harm — retrain once labels confirm. Otherwise watch (action none): a benign drift must not trigger a
   retrain.
"""

from __future__ import annotations

from agent.diagnosis import Action, Diagnosis, TriageSignals
from agent.policy.infrastructure import infrastructure, replica_lines, workload_evidence, workload_unhealthy
from agent.policy.readers import (
    MIN_HARM_LABELS,
    MIN_VERSION_LABELS,
    actual_rate_moved,
    auc_drop_upper_bound,
    auc_harm_shown,
    drifted,
    harm_ruled_out,
    harmed_metrics,
    leaned_on,
    new_release,
    of,
    quality_culprits,
    realised_harm,
    release_is_worse,
    release_regressed,
    slow_versions,
    unique,
)
from agent.policy.verdict import Verdict
from agent.proposals import Evidence, finding_fact
from ml_core.simulator.scenario import Category

BRAIN = "offline policy"


def _service(signals: TriageSignals) -> Verdict | None:
    """Rule 1: a version breaks its latency or error SLO; the slow versions are blamed first."""
    slo = of(signals, "latency_slo", "error_rate_slo")
    if not slo:
        return None
    slow = slow_versions(signals)
    versions = unique([f.subject for f in slo if f.subject in slow] or [f.subject for f in slo])
    agree = len(slo) + (new_release(signals) in versions)
    if slow:
        return Verdict("latency", versions, "rollback", f"version {', '.join(versions)} answers too slowly", agree)
    return Verdict("errors", versions, "rollback", f"version {', '.join(versions)} fails on requests", agree)


def _quality(signals: TriageSignals) -> Verdict | None:
    """Rule 2: rejected requests, nulls or implausible values."""
    quality = of(signals, "rejection_spike", "null_share", "implausible_values")
    if not quality:
        return None
    fields = quality_culprits(signals)
    where = f" in {', '.join(fields)}" if fields else ""
    what = "rejected or null values" if of(signals, "rejection_spike", "null_share") else "implausible values"
    return Verdict("data_quality", fields, "fix_data", f"a broken input feed: {what}{where}",
                   len(quality) + bool(fields))


def _release(signals: TriageSignals) -> Verdict | None:
    """Rule 3: the release decided worse than its baseline on the same records (or, before labels, is estimated to)."""
    sh = signals.shadow
    if sh is None:
        return None
    if sh.worse:
        return Verdict("bad_release", [sh.release], "rollback", (
            f"version {sh.release} ({sh.how}) got {sh.release_only_wrong} labelled records wrong that v{sh.baseline} "
            f"got right on the same records, against {sh.baseline_only_wrong} the other way (McNemar p="
            f"{sh.p_value:.2g}); F1 {sh.release_f1:.3f} vs {sh.baseline_f1:.3f}"), 3)
    if sh.n_labelled < MIN_VERSION_LABELS and sh.estimated_worse and not drifted(signals):
        return Verdict("bad_release", [sh.release], "rollback", (
            f"no labels yet, but version {sh.release} ({sh.how}) decides {sh.disagreement:.0%} of the same records "
            f"differently from v{sh.baseline}, and judged by v{sh.baseline}'s calibrated scores its estimated F1 is "
            f"{sh.estimated_release_f1:.3f} against {sh.estimated_baseline_f1:.3f}; the labels will confirm or "
            "clear it"), 2)
    return None


def _shadow_cleared(signals: TriageSignals, version: str) -> bool:
    """The shadow comparison had enough labels and found the release no worse than its baseline."""
    sh = signals.shadow
    return bool(sh and sh.release == version and sh.n_labelled >= MIN_VERSION_LABELS and not sh.worse)


def _performance(signals: TriageSignals) -> Verdict | None:
    """Rule 4: a promoted release that regressed, or a realised drop: the release, the drift or the concept."""
    features, estimated = drifted(signals), of(signals, "estimated_performance_drop")
    if signals.shadow is None and (regressed := release_regressed(signals, bool(features))):
        version, own_f1, prev_f1 = regressed
        return Verdict("bad_release", [version], "rollback", f"version {version} went live and its decisions score "
                       f"F1 {own_f1:.3f}, below the {prev_f1:.3f} test F1 of the version it replaced", 2)
    if not of(signals, "performance_drop"):
        return None
    fresh = new_release(signals)
    if fresh and not _shadow_cleared(signals, fresh) and release_is_worse(signals, fresh, bool(features)):
        return Verdict("bad_release", [fresh], "rollback", f"performance fell after version {fresh} went live", 2)
    if actual_rate_moved(signals) and not auc_harm_shown(signals):
        return None  # F1 and precision move with the share of positives, AUC does not: the label-shift rule decides
    if features:
        return Verdict("data_drift", features, "retrain", f"performance fell while {', '.join(features)} drifted",
                       1 + len(features) + len(estimated))
    # The label-free estimate cannot see concept drift, so its silence agrees with it.
    slices = [s.name for s in signals.slice_regressions]
    where = f", worst in {', '.join(slices)}" if slices else ""
    return Verdict("concept_drift", slices, "retrain", f"performance fell while the inputs did not shift{where}",
                   1 + (not estimated) + bool(slices))


def _drift_before_labels(signals: TriageSignals, features: list[str]) -> Verdict | None:
    """Drift with too few labels to measure its harm: weigh it by the model's reliance on the drifted features and
    by whether its scores moved. Drift the model leans on that reaches its scores is a retrain to run once labels
    confirm; drift in features it barely uses is watched. None when labels can judge (or nothing is known of the
    model's reliance), so the caller's watch verdict stands."""
    if signals.n_labelled >= MIN_HARM_LABELS or not signals.importance:
        return None
    leaned = leaned_on(signals, features)
    scores_moved = bool(of(signals, "prediction_drift"))
    share = sum(signals.importance.get(f, 0.0) for f in features)
    known = (f"{', '.join(features)} drifted and carry {share:.0%} of the model's reliance (permutation importance)"
             f"; the score distribution {'moved' if scores_moved else 'did not move'}")
    unknown = f"only {signals.n_labelled} labels have arrived, so the harm is not measured"
    if leaned and scores_moved:
        return Verdict("data_drift", features, "retrain", f"{known}; {unknown}: retrain once labels confirm",
                       len(features) + 1, awaiting_labels=True)
    return Verdict("data_drift", features, "none", f"{known}; {unknown}: watch, the model barely relies on "
                   "them" if not leaned else f"{known}; {unknown}: watch until the scores or labels move",
                   len(features))


def _shift_and_drift(signals: TriageSignals) -> Verdict:
    """Rules 4 and 5: label shift, then feature drift (harmful or benign), then what is left."""
    features, estimated = drifted(signals), of(signals, "estimated_performance_drop")
    if actual_rate_moved(signals):
        return Verdict("label_shift", [], "retune_threshold", "the share of positives changed while performance held",
                       1 + len(of(signals, "prediction_drift")) + bool(features))
    if of(signals, "prior_shift") and not features:
        return Verdict("label_shift", [], "retune_threshold", "the predicted positive rate moved with no input drift",
                       1)
    if signals.slice_regressions and not features:
        worst = signals.slice_regressions[0]
        names = [s.name for s in signals.slice_regressions]
        return Verdict("concept_drift", names, "retrain", (
            f"decisions in {', '.join(names)} went wrong more often while the inputs held: {worst.name} "
            f"{worst.error_rate:.1%} wrong vs {worst.reference_error_rate:.1%} on held-out data "
            f"(p={worst.p_value:.2g})"), 1 + len(names))
    if features:
        harm = realised_harm(signals)
        if estimated or harm:
            return Verdict("data_drift", features, "retrain", "the inputs drifted and performance suffers",
                           len(features) + len(estimated) + len(harm))
        if (unlabelled := _drift_before_labels(signals, features)) is not None:
            return unlabelled
        if leaned_on(signals, features) and of(signals, "prediction_drift") and not harm_ruled_out(signals):
            bound = auc_drop_upper_bound(signals)
            return Verdict("data_drift", features, "retrain", (
                f"the model leans on {', '.join(features)} and its scores moved, and {signals.n_labelled} labels "
                "cannot rule out a harmful drop" + (f" (AUC may be down by up to {bound:.3f})" if bound else "")),
                len(features) + 1)
        return Verdict("data_drift", features, "none",
                       "the inputs drifted but performance holds: watch, do not retrain", len(features))
    if estimated:  # CBPE alone, no drifted feature: the labels must confirm it before anyone retrains
        return Verdict("data_drift", [], "none", "estimated performance fell with no drifted feature: wait for labels",
                       len(estimated))
    if signals.findings:  # prediction drift alone: nothing to act on yet
        return Verdict("data_drift", [], "none", "the score distribution moved without a known cause: watch", 1)
    return Verdict("none", [], "none", "nothing flagged", 0)


def decide(signals: TriageSignals) -> Verdict:
    """The first rule that matches, in priority order."""
    return (infrastructure(signals) or _service(signals) or _quality(signals) or _release(signals)
            or _performance(signals) or _shift_and_drift(signals))


def _evidence(signals: TriageSignals, category: Category, action: Action) -> list[Evidence]:
    evidence = [Evidence(source=f"monitoring {f.kind}", detail=f.message, fact=finding_fact(f.kind, f.subject))
                for f in signals.findings]
    evidence += workload_evidence(signals)  # the replicas' states and events, whichever rule decided
    if category in ("data_drift", "concept_drift") and action != "none":
        evidence += [Evidence(source="realised performance", detail=line, fact=f"realised:{metric}")
                     for metric, line in zip(harmed_metrics(signals), realised_harm(signals), strict=True)]
    if category == "bad_release":
        if (sh := signals.shadow) is not None:
            evidence.append(Evidence(source="shadow evaluation", detail=(
                f"v{sh.release} vs v{sh.baseline} on {sh.n} records v{sh.release} decided: disagree on "
                f"{sh.disagreement:.1%}" + (f"; {sh.n_labelled} labelled: F1 {sh.release_f1:.3f} vs "
                                            f"{sh.baseline_f1:.3f}, McNemar b={sh.release_only_wrong} "
                                            f"c={sh.baseline_only_wrong} p={sh.p_value:.2g}"
                                            if sh.p_value is not None else "; no labels yet"))))
        if signals.shadow is None and (regressed := release_regressed(signals, bool(of(signals, "feature_drift")))):
            evidence.append(Evidence(source="realised performance", detail=(
                f"v{regressed[0]}'s own decisions: realised f1 {regressed[1]:.3f}; the version it replaced scored "
                f"{regressed[2]:.3f} on its test set")))
        evidence += [Evidence(source="recent deploys", detail=line) for line in signals.recent_deploys[:3]]
    if signals.drift_report_dir and category == "data_drift":
        evidence.append(Evidence(source="drift report", detail=signals.drift_report_dir))
    evidence += [Evidence(source=f"memory {h.id}", detail=f"similar past {h.kind} (similarity {h.similarity:.2f}): "
                                                          f"{h.text[:200]}") for h in signals.similar_incidents[:3]]
    return evidence


def diagnose(signals: TriageSignals) -> Diagnosis:
    """The offline diagnosis of one window: category, culprit, action, evidence and a confidence."""
    category, culprit, action, reason, agree, awaiting_labels = decide(signals)
    evidence = _evidence(signals, category, action)
    if category == "none":
        return Diagnosis(detected=False, summary=f"{signals.model}: {signals.n_predictions} predictions checked, "
                         "nothing flagged.", evidence=evidence, confidence=0.9, brain=BRAIN)
    hits = signals.similar_incidents[:3]
    past = f" Similar past incidents: {', '.join(h.id for h in hits)}." if hits else ""
    todo = {"none": "No action yet; keep watching.",
            "retrain": "Proposed: retrain once labels confirm." if awaiting_labels else "Proposed: retrain.",
            "rollback": f"Proposed: roll back {', '.join(culprit) or 'the release'}.",
            "fix_data": "Proposed: fix the upstream data feed.",
            "retune_threshold": "Proposed: retune the decision threshold.",
            "investigate_infrastructure": "Proposed: page the platform's owner with the replica states and events; "
                                          "no retrain or rollback, the model is not the cause."}[action]
    platform = ""
    if category != "infrastructure" and workload_unhealthy(signals):
        platform = " The serving platform is degraded too: " + "; ".join(replica_lines(signals)[:3]) + "."
    summary = f"{signals.model}: {category.replace('_', ' ')}: {reason}. {todo}{platform}{past}"
    confidence = min(0.95, 0.55 + 0.1 * agree + (0.05 if culprit else 0.0))
    return Diagnosis(detected=True, category=category, culprit=culprit, action=action, summary=summary,
                     evidence=evidence, confidence=round(confidence, 2), brain=BRAIN,
                     awaiting_labels=awaiting_labels and action == "retrain")
