"""The post-mortem's facts in sentences: what changed (in numbers), the harm in decision terms, how it was
detected, what we do not know, and where the signals disagree. Pure functions of the typed signals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.reports.render import utc_iso

if TYPE_CHECKING:  # types only: importing them pulls in the monitoring stack
    from agent.diagnosis import Diagnosis, TriageSignals
    from ml_core.monitoring.shadow import ShadowComparison
    from ml_core.monitoring.shift_stats import FeatureShift

# Features named as "the model relies most on": the top three cover most of a tabular model's importance mass.
TOP_IMPORTANCE = 3
# A metric that moves by less than this is "held": below the bootstrap noise of a few hundred labels (the
# standard error of F1 on 300 labels is about 0.02, so 0.01 is well inside it).
HELD = 0.01
# Categories a release causes: their post-mortem gives the release and its version diff.
RELEASE_CAUSED = ("bad_release", "latency", "errors")


def _span(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _pct(before: float, after: float) -> str:
    return f" ({(after - before) / abs(before):+.0%})" if before else ""


def shift_line(s: FeatureShift) -> str:
    """``total_day_minutes: mean 180 -> 225 (+25%), p50 ..., p90 ...; most moved in area_code=415 (+1.2 sd)``."""
    if s.kind == "numeric":
        parts = [f"{k} {s.reference[k]:.4g} -> {s.window[k]:.4g}{_pct(s.reference[k], s.window[k])}"
                 for k in ("mean", "p50", "p90") if k in s.reference and k in s.window]
    else:
        parts = [f"'{c.value}' {c.reference:.0%} -> {c.window:.0%}" for c in s.categories[:3]]
    text = f"`{s.feature}` (reference {s.n_reference} rows vs window {s.n_window}): " + ", ".join(parts or ["-"])
    if s.slices:
        unit = "sd" if s.kind == "numeric" else "share distance"
        text += "; moved most in " + ", ".join(f"{x.column}={x.value} ({x.moved:+.2f} {unit}, {x.n} rows)"
                                               for x in s.slices)
    return text


def shadow_line(sh: ShadowComparison) -> str:
    """The release against its baseline on the same records, as a sentence: how many, how often they disagree,
    who alone got the labelled ones wrong (McNemar) and the verdict."""
    text = (f"Against its baseline v{sh.baseline} on the same {sh.n} records, v{sh.release} ({sh.how}) decided "
            f"{sh.disagreement:.1%} of them differently")
    if sh.n_labelled:
        text += (f"; of {sh.n_labelled} labelled, {sh.release_only_wrong} were wrong only for v{sh.release} and "
                 f"{sh.baseline_only_wrong} only for v{sh.baseline}")
        text += f" (McNemar p={sh.p_value:.2g})" if sh.p_value is not None else ""
        if sh.release_f1 is not None and sh.baseline_f1 is not None:
            text += f", F1 {sh.release_f1:.3f} vs {sh.baseline_f1:.3f}"
        verdict = "significantly worse than its baseline" if sh.worse else "not significantly worse"
    else:
        if sh.estimated_release_f1 is not None and sh.estimated_baseline_f1 is not None:
            text += (f"; with no labels yet, the baseline's probabilities put F1 at {sh.estimated_release_f1:.3f} "
                     f"for v{sh.release} vs {sh.estimated_baseline_f1:.3f} for v{sh.baseline}")
        verdict = ("estimated worse by the drop limit or more" if sh.estimated_worse
                   else "not estimated worse (no labels to test it)")
    return f"{text}: v{sh.release} is {verdict}."


def _release_lines(signals: TriageSignals, diagnosis: Diagnosis) -> list[str]:
    r = signals.release
    if r is None:
        return []
    prev = signals.deploy.previous_champion or signals.deploy.champion
    lines = [f"v{r.version} went live ({r.how}) at {utc_iso(r.at)}" + (f", replacing v{prev}" if prev and prev !=
                                                                        r.version else "")]
    # A bad release's evidence already gives the shadow comparison (agent.policy.rules): said there, not twice.
    if signals.shadow is not None and diagnosis.category != "bad_release":
        lines.append(shadow_line(signals.shadow))
    # A bad release lists the recent deploys under Evidence (agent.policy.rules): said there, not twice.
    lines += [f"deploy history: {d}" for d in signals.recent_deploys[:4]] if diagnosis.category != "bad_release" \
        else []
    return lines


def _first(at: float | None) -> str:
    """The first bad record's time as a person reads it (ISO, UTC); nothing when the log kept no times."""
    return f", first at {utc_iso(at)}" if at is not None else ""


def _quality_lines(signals: TriageSignals) -> list[str]:
    """Per field: the problem, how many, and the first bad record in the window (the earliest with the problem)."""
    lines = [f"`{f.field}` rejected for {f.problem}: {f.count} request(s){_first(f.first_at)}"
             for f in signals.rejected_fields]
    nulls = {f.field: f for f in signals.null_fields}
    lines += [f"`{name}` null in {share:.1%} of the window's rows"
              + (f" ({nulls[name].count} rows){_first(nulls[name].first_at)}" if name in nulls else "")
              for name, share in sorted(signals.null_share.items(), key=lambda kv: -kv[1]) if share > 0][:5]
    # The finding's own message is in the evidence: here the columns and the kind of problem, not its text again.
    for f in (f for f in signals.findings if f.kind == "implausible_values"):
        count = f" in {f.evidence['count']:.0f} row(s)" if "count" in f.evidence else ""
        lines.append(f"{', '.join(f'`{c}`' for c in (f.columns or [f.subject]))}: {f.message.split(':', 1)[0]}"
                     f"{count}{_first(f.evidence.get('first_ts'))} (figures in the evidence)")
    return lines


def what_changed(signals: TriageSignals, diagnosis: Diagnosis) -> list[str]:
    """What moved in concrete terms: drifted statistics, the release, the broken fields, the model's reliance."""
    lines = [shift_line(s) for s in signals.feature_shifts]
    lines += _release_lines(signals, diagnosis) if diagnosis.category in RELEASE_CAUSED else []
    lines += _quality_lines(signals) if diagnosis.category == "data_quality" or signals.rejected_fields else []
    if signals.prior is not None and diagnosis.category == "label_shift":
        p = signals.prior
        lines.append(f"predicted positive rate {p.reference_predicted_positive_rate:.1%} -> "
                     f"{p.predicted_positive_rate:.1%}" + (f", actual {p.reference_actual_positive_rate:.1%} -> "
                     f"{p.actual_positive_rate:.1%}" if p.actual_positive_rate is not None and
                     p.reference_actual_positive_rate is not None else ""))
    if signals.importance:
        top = sorted(signals.importance.items(), key=lambda kv: -kv[1])[:TOP_IMPORTANCE]
        relied = ", ".join(f"`{k}` ({v:.0%})" for k, v in top)
        hit = [c for c in diagnosis.culprit if c in dict(top)]
        lines.append(f"the model relies most on {relied} (share of permutation importance)"
                     + (f": the drift hits {', '.join(hit)}, which it relies on" if hit else ""))
    return lines


def decision_lines(signals: TriageSignals) -> list[str]:
    """The harm in decision terms: wrong decisions by kind among the labelled, fallbacks, for how long."""
    d = signals.decisions
    if d is None:
        return []
    lines = []
    if d.n_labelled:
        lines.append(f"Of {d.n_labelled} labelled decisions, {d.missed_positives} missed positives (positives "
                     f"answered negative) and {d.false_alarms} false alarms (negatives answered positive).")
    if d.first_at is not None and d.last_at is not None:
        lines.append(f"{d.n_predictions} answers over {_span(d.last_at - d.first_at)} "
                     f"({utc_iso(d.first_at)} to {utc_iso(d.last_at)}); {d.fallback_answers} of them by a fallback.")
    return lines


def slice_lines(signals: TriageSignals) -> list[str]:
    return [f"slice {s.name}: error rate {s.reference_error_rate:.1%} -> {s.error_rate:.1%} over {s.n} labels "
            f"(p={s.p_value:.2g})" for s in signals.slice_regressions]


def detection(signals: TriageSignals, diagnosis: Diagnosis, detected_at: float, via: str) -> str:
    """How and when it was found, and the time from the window's start (the onset's earliest bound) to then."""
    if not diagnosis.detected:
        return f"Checked by triage ({via}) at {utc_iso(detected_at)}: nothing to detect."
    kinds: list[str] = sorted({f.kind for f in signals.findings}) or ["the investigation"]
    onset = signals.decisions.first_at if signals.decisions and signals.decisions.first_at else signals.window_since
    return (f"Found by triage ({via}) at {utc_iso(detected_at)} from {', '.join(kinds)} over the window "
            f"{utc_iso(signals.window_since)} to {utc_iso(signals.window_until)}. The fault started at the latest "
            f"at {utc_iso(onset)} (the window's first answer): at most {_span(detected_at - onset)} from "
            "onset to detection; it may have started earlier, before this window.")


def unknowns(signals: TriageSignals, diagnosis: Diagnosis) -> list[str]:
    out = []
    if diagnosis.detected and not signals.n_labelled:
        out.append("The realised harm: no labels have arrived for this window, so wrong decisions cannot be counted "
                   "yet; the label-free estimate stands in for them.")
    elif diagnosis.detected and signals.n_labelled < 100:
        out.append(f"The realised harm, precisely: only {signals.n_labelled} labels have arrived.")
    if diagnosis.category == "data_drift":
        out.append("Why the inputs moved (a new product, a new customer mix, an upstream change): the data does not "
                   "say; ask the owners of the feed or the business.")
    if diagnosis.category == "data_quality":
        out.append("Which upstream job broke the feed: only its owners can tell.")
    if not diagnosis.detected or diagnosis.category == "none":
        out.append("A cause: the checks found nothing conclusive.")
    return out


def _moved(values: dict[str, float], reference: dict[str, float], metric: str) -> float | None:
    return values[metric] - reference[metric] if metric in values and metric in reference else None


def consistency(signals: TriageSignals, diagnosis: Diagnosis) -> list[str]:
    """Disagreements between signals, stated and explained rather than listed side by side."""
    out = []
    for metric in ("auc", "f1"):
        real, est = _moved(signals.realised, signals.reference, metric), _moved(signals.estimated,
                                                                                  signals.reference, metric)
        if real is not None and est is not None and (real < -HELD < HELD < est or est < -HELD < HELD < real):
            out.append(f"The label-free estimate puts {metric} {est:+.3f} while the realised {metric} moved "
                       f"{real:+.3f}. The estimate assumes the model's scores stay calibrated and only the inputs "
                       "move; when the relation between inputs and label changes (or the drift breaks "
                       "calibration) it cannot see the harm. The realised figure, from labels, is the one to trust.")
    real_f1 = _moved(signals.realised, signals.reference, "f1")
    drifted = [f.subject for f in signals.findings if f.kind == "feature_drift"]
    if drifted and real_f1 is not None and real_f1 > -HELD:
        out.append(f"The inputs drifted ({', '.join(drifted)}) but realised f1 held ({real_f1:+.3f}): drift without "
                   "harm so far — the model is robust to this move, or the labels are still too few to show it.")
    return out
