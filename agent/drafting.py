"""Drafting typed, costed proposals from a diagnosis (triage) or a request (chat, proposal tools).

Drafting only reads — the registry, the champion's MLflow run, the prediction log, memory, serving
status — and returns a proposal; nothing changes until a person approves it and the remediation graph
executes it. Every proposal records the champion it was drafted against (the precondition) and expires.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from agent.context import OpsContext
from agent.diagnosis import Diagnosis, TriageSignals
from agent.handover import HandOverError, executor_for, hand_over, user_rollback, when
from agent.memory import MemoryHit
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
from agent.retrain_cost import estimate_seconds, reference_rows, training_run
from agent.train_scaling import cost_sentence, cost_usd
from ml_core.evaluation import best_f1_threshold, classification_metrics
from ml_core.registry import CHAMPION, RegistryError

GATE_METRIC = "f1"
GATE_MIN_GAIN = 0.01
MIN_THRESHOLD_LABELS = 50
RECALL_MIN_SIMILARITY = 0.35


class DraftError(ValueError):
    """A proposal that cannot be drafted as asked (no canary to promote, too few labels); says what to do."""


def draft_proposal(ctx: OpsContext, signals: TriageSignals, diagnosis: Diagnosis, *, brain: str,
                   incident_id: str | None = None) -> Proposal | None:
    """The proposal for ``diagnosis.action``; None for "none", or when the action is impossible now (nothing
    to roll back, too few labels to re-tune): triage still reports, and ``ctx.progress`` says why."""
    try:
        return _draft_for(ctx, signals, diagnosis, brain=brain, incident_id=incident_id)
    except DraftError as exc:
        ctx.progress(f"no {diagnosis.action} proposal: {exc}")
        return None


def _draft_for(ctx: OpsContext, signals: TriageSignals, diagnosis: Diagnosis, *, brain: str,
               incident_id: str | None) -> Proposal | None:
    m, ev, why = signals.model, diagnosis.evidence, diagnosis.summary
    if diagnosis.action == "retrain":
        return draft_retrain(ctx, m, reason=why, window_since=signals.window_since, window_until=signals.window_until,
                             evidence=ev, brain=brain, incident_id=incident_id, signals=signals,
                             wait_for_labels=diagnosis.awaiting_labels)
    if diagnosis.action == "rollback":
        return draft_rollback(ctx, m, reason=why, evidence=ev, brain=brain, incident_id=incident_id,
                              culprit=diagnosis.culprit, window=(signals.window_since, signals.window_until))
    if diagnosis.action == "retune_threshold":
        return draft_threshold(ctx, m, reason=why, window_since=signals.window_since,
                               window_until=signals.window_until, evidence=ev, brain=brain, incident_id=incident_id)
    if diagnosis.action == "fix_data":
        features = diagnosis.culprit or [f.subject for f in signals.findings if f.kind == "null_share"]
        return draft_fix_data(ctx, m, features=features, problem=why, evidence=ev, brain=brain,
                              incident_id=incident_id)
    if diagnosis.action == "investigate_infrastructure":
        return draft_infrastructure(ctx, signals, reason=why, evidence=ev, brain=brain, incident_id=incident_id)
    return None


def _base(ctx: OpsContext, model: str, *, evidence: Sequence[Evidence], brain: str,
          incident_id: str | None) -> dict[str, Any]:
    known = ctx.registry.models()
    if model not in known and executor_for(ctx, model, "rollback") == "opsagent":  # served elsewhere: may be unknown
        raise DraftError(f"unknown model '{model}'; registered models: {', '.join(known) or 'none'}")
    champion = ctx.registry.alias(model, CHAMPION)
    now = ctx.clock()
    return {"model": model, "champion_version": champion.version if champion else None, "created_at": now,
            "expires_at": now + ctx.settings.approval_ttl_minutes * 60, "brain": brain, "incident_id": incident_id,
            "evidence": list(evidence)}


def _labelled(ctx: OpsContext, model: str, since: float | None, until: float | None) -> pd.DataFrame:
    """Predictions in the window whose labels arrived (score, actual, version); empty without a log."""
    if not ctx.has_prediction_log(model):
        return pd.DataFrame(columns=["score", "actual", "version"])
    with ctx.prediction_log(model) as log:
        return log.labelled(since, until)


def _past_fixes(ctx: OpsContext, model: str, query: str) -> list[MemoryHit]:
    """Remembered outcomes whose fix worked, of incidents like this one (or outcomes close to the query)."""
    if not query.strip() or not ctx.layout.memory_dir.exists():
        return []
    incidents = {h.id for h in ctx.memory.search(query, k=5, model=model, kind="incident")
                 if h.similarity >= RECALL_MIN_SIMILARITY}
    outcomes = ctx.memory.search(query, k=10, model=model, kind="outcome")
    return [h for h in outcomes if str(h.metadata.get("fixed")).lower() == "true"
            and (h.similarity >= RECALL_MIN_SIMILARITY or h.metadata.get("incident") in incidents)]


def _window_performance(ctx: OpsContext, model: str, since: float | None, until: float | None,
                        signals: TriageSignals | None) -> tuple[dict[str, float], dict[str, float], int]:
    """(realised, label-free estimate, labelled count) for the window: from triage's signals, else measured."""
    if signals is not None:
        return signals.realised, signals.estimated, signals.n_labelled
    if not ctx.has_prediction_log(model):
        return {}, {}, 0
    try:
        r = ctx.check_window(model, since=since, until=until, write_report=False).result
    except RegistryError:
        return {}, {}, 0
    realised = r.realised.metrics if r.realised and r.realised.n_labelled else {}
    return realised, r.estimate.current if r.estimate else {}, r.realised.n_labelled if r.realised else 0


def _expected_gain(realised: dict[str, float], estimated: dict[str, float], reference: dict[str, float],
                   n_labelled: int) -> tuple[str, Evidence | None]:
    m, ref = GATE_METRIC, reference.get(GATE_METRIC)
    if ref is not None and m in realised:
        drop = ref - realised[m]
        text = (f"realised {m.upper()} {realised[m]:.3f} on {n_labelled} labelled records vs {ref:.3f} on the "
                f"champion's test set: " + (f"a retrain on this window aims to win back up to {drop:.3f}"
                                            if drop > 0.005 else "no drop to win back from quality alone"))
        return text, Evidence(source="prediction log (delayed labels)", detail=text, fact=f"realised:{m}")
    if ref is not None and m in estimated:
        text = (f"label-free estimate of {m.upper()} {estimated[m]:.3f} vs {ref:.3f} on the champion's test set "
                f"(CBPE; assumes calibrated scores, blind to concept drift)")
        return text, Evidence(source="label-free estimate (CBPE)", detail=text, fact=f"estimated:{m}")
    return "no measured drop in this window yet: the gain is unproven and the gate decides", None


def _labels_to_wait_for(ctx: OpsContext, model: str, have: int) -> int:
    """A retrain proposed before labels confirmed the harm waits for the labels realised metrics need."""
    return need if have < (need := ctx.thresholds(model).min_labels) else 0


def draft_retrain(ctx: OpsContext, model: str, *, reason: str, window_since: float | None,
                  window_until: float | None, evidence: Sequence[Evidence], brain: str,
                  incident_id: str | None = None, epochs: int | None = None,
                  signals: TriageSignals | None = None, wait_for_labels: bool = False) -> RetrainProposal:
    """A costed retrain on reference + window data, gated on F1 against the champion, shipped as a canary."""
    base = _base(ctx, model, evidence=evidence, brain=brain, incident_id=incident_id)
    if epochs is not None and not 1 <= epochs <= 1000:
        raise DraftError(f"epochs must be between 1 and 1000, got {epochs}")
    champion = ctx.registry.alias(model, CHAMPION)
    run = training_run(ctx, champion)
    params = run.data.params if run else {}
    epochs = epochs or int(params.get("epochs") or 40)
    window_rows = len(_labelled(ctx, model, window_since, window_until))
    seconds, basis = (estimate_seconds(run, reference_rows(ctx, model, champion), window_rows, epochs) if run
                      else (0.0, "no champion run to time"))
    realised, estimated, n_labelled = _window_performance(ctx, model, window_since, window_until, signals)
    reference = (signals.reference if signals and signals.reference else
                 champion.test_metrics if champion else {})
    gain, gain_evidence = _expected_gain(realised, estimated, reference, n_labelled)
    fixes = _past_fixes(ctx, model, reason)
    gain += (f"; {len(fixes)} similar past incident(s) were fixed by a promoted retrain ("
             + ", ".join(f"{h.id}, similarity {h.similarity:.2f}" for h in fixes[:3]) + ")"
             if fixes else "; no similar past fix in memory")
    extra = [e for e in (gain_evidence,) if e is not None]
    extra += [Evidence(source=f"memory {h.id}", detail=h.text[:300]) for h in fixes[:3]]
    if run is not None:
        extra.append(Evidence(source=f"mlflow run {run.info.run_id}", detail=basis))
    base["evidence"] += extra
    champ = f"v{champion.version}" if champion else "no champion"
    span = (f"{when(window_since)} to {when(window_until)}" if window_since and window_until
            else "the reference data only")
    # One process, one pod (an edit of nproc or nodes rescales both); rounded as stored, so that an edit finds
    # the rationale's sentence again.
    seconds, usd = round(seconds, 1), round(cost_usd(seconds, 1, ctx.settings.train_usd_per_hour), 4)
    if min_labels := _labels_to_wait_for(ctx, model, window_rows) if wait_for_labels else 0:
        gain += f"; {window_rows} labelled records so far: it runs once the window holds {min_labels}"
    return hand_over(ctx, RetrainProposal(
        **base, title=f"Retrain {model} on the reference data plus {window_rows} labelled records; gate on "
                      f"{GATE_METRIC.upper()} vs {champ}",
        rationale=f"{reason.strip()} Expected: {gain}. Training on {span}, {cost_sentence(seconds, 1, usd)}.",
        window_since=window_since, window_until=window_until, epochs=epochs, learning_rate=float(params.get("lr")
        or 5e-4), gate_metric=GATE_METRIC, gate_min_gain=GATE_MIN_GAIN, canary_weight=ctx.settings.canary_weight,
        expected_gain=gain, estimated_train_seconds=seconds, estimated_cost_usd=usd,
        min_labels=min_labels, rollback_plan=f"the canary is dropped; {champ} stays champion"), reason=reason)


def draft_rollback(ctx: OpsContext, model: str, *, reason: str, evidence: Sequence[Evidence] = (), brain: str,
                   incident_id: str | None = None, culprit: Sequence[str] = (),
                   window: tuple[float | None, float | None] = (None, None)) -> RollbackProposal:
    """Take the canary out of traffic, or go back to the previous champion (elsewhere: see agent.handover)."""
    base = _base(ctx, model, evidence=evidence, brain=brain, incident_id=incident_id)
    if executor_for(ctx, model, "rollback") == "user":
        try:
            return user_rollback(ctx, base, model, reason=reason, culprit=culprit, since=window[0], until=window[1])
        except HandOverError as exc:
            raise DraftError(str(exc)) from exc
    st = ctx.backend(model).status()
    if st.canary is not None:
        bad, target = st.canary, st.champion
        plan = f"re-deploy v{bad} as a canary if it was wrongly blamed"
    elif st.champion is not None and st.previous_champion is not None:
        bad, target = st.champion, st.previous_champion
        plan = f"promote v{bad} again if the previous champion v{target} does worse"
    else:
        raise DraftError(f"nothing to roll back for '{model}': no canary and no previous champion is deployed "
                         f"(call model_status)")
    return RollbackProposal(**base, title=f"Roll back {model}: take v{bad} out of traffic, v{target} keeps serving",
                            rationale=reason.strip(), bad_version=bad, target_version=target, rollback_plan=plan)


def draft_promote(ctx: OpsContext, model: str, *, reason: str, evidence: Sequence[Evidence] = (), brain: str,
                  incident_id: str | None = None) -> PromoteProposal:
    """Make the deployed canary the champion (the old champion stays as the rollback target)."""
    base = _base(ctx, model, evidence=evidence, brain=brain, incident_id=incident_id)
    if executor_for(ctx, model, "promote") == "user":
        raise DraftError(f"opsagent does not serve '{model}': promote a version in your own serving system")
    st = ctx.backend(model).status()
    if st.canary is None:
        raise DraftError(f"'{model}' has no canary to promote; a canary is deployed after an approved retrain")
    return PromoteProposal(**base, title=f"Promote {model} v{st.canary} (canary at {st.canary_weight:.0%}) to "
                                         f"champion", rationale=reason.strip(), version=st.canary,
                           rollback_plan=f"roll back to v{st.champion}, kept as the previous champion")


def draft_threshold(ctx: OpsContext, model: str, *, proposed: float | None = None, reason: str,
                    window_since: float | None = None, window_until: float | None = None,
                    evidence: Sequence[Evidence] = (), brain: str, incident_id: str | None = None
                    ) -> ThresholdProposal:
    """Ship the champion with a new decision threshold; without ``proposed``, re-tune it on the labelled window."""
    base = _base(ctx, model, evidence=evidence, brain=brain, incident_id=incident_id)
    champion = ctx.registry.alias(model, CHAMPION)
    if champion is None:
        raise DraftError(f"'{model}' has no champion whose threshold could change")
    current = float(ctx.registry.load(model, champion.version).threshold)
    until = window_until if window_until is not None else ctx.clock()
    since = window_since if window_since is not None else until - ctx.settings.triage_window_minutes * 60
    lab = _labelled(ctx, model, since, until)
    own = executor_for(ctx, model, "retune_threshold") == "opsagent"  # served elsewhere: its own version names
    lab = lab[lab["version"].astype(str) == champion.version] if own else lab
    y, p = lab["actual"].to_numpy(int), lab["score"].to_numpy(float)
    enough = len(lab) >= MIN_THRESHOLD_LABELS and len(set(y)) == 2
    span = (f"{len(lab)} labelled predictions of {f'v{champion.version}' if own else 'every version'} from "
            f"{when(since)} to {when(until)}")
    if proposed is None:
        if not enough:
            raise DraftError(f"only {span}; re-tuning needs {MIN_THRESHOLD_LABELS} with both outcomes: wait for "
                             f"delayed labels, widen the window, or give the threshold")
        proposed = best_f1_threshold(y, p)
        origin = f"the F1-best threshold re-tuned on {span}"
    elif not 0 < proposed < 1:
        raise DraftError(f"a threshold must be between 0 and 1, got {proposed}")
    else:
        origin = "the threshold the requester asked for"
    if abs(proposed - current) < 0.005:
        raise DraftError(f"the current threshold {current:.2f} already is {origin}; nothing to retune")
    detail = f"{proposed:.2f} is {origin}"
    if enough:
        f1_now, f1_new = (classification_metrics(y, p, t)["f1"] for t in (current, proposed))
        detail += f"; on those records F1 is {f1_new:.3f} at {proposed:.2f} vs {f1_now:.3f} at {current:.2f}"
    base["evidence"].append(Evidence(source="prediction log (delayed labels)", detail=detail))
    return hand_over(ctx, ThresholdProposal(
        **base, title=f"Retune {model} v{champion.version} threshold {current:.2f} -> {proposed:.2f} as a canary",
        rationale=f"{reason.strip()} The new threshold: {detail}.", version=champion.version,
        current_threshold=current, proposed_threshold=round(float(proposed), 4),
        canary_weight=ctx.settings.canary_weight,
        rollback_plan=f"the canary is dropped; v{champion.version} keeps serving at {current:.2f}"), reason=reason)


def draft_fix_data(ctx: OpsContext, model: str, *, features: Sequence[str], problem: str,
                   evidence: Sequence[Evidence] = (), brain: str, incident_id: str | None = None) -> FixDataProposal:
    """A broken upstream feed: nothing to deploy; a person fixes the data and accepting acknowledges it."""
    base = _base(ctx, model, evidence=evidence, brain=brain, incident_id=incident_id)
    names = ", ".join(features) or "the rejected fields"
    return FixDataProposal(**base, title=f"Fix the {model} data feed: {names}", rationale=problem.strip(),
                           features=list(features), problem=problem.strip(),
                           rollback_plan="nothing is deployed; the model keeps serving unchanged")


def draft_infrastructure(ctx: OpsContext, signals: TriageSignals, *, reason: str, evidence: Sequence[Evidence] = (),
                         brain: str, incident_id: str | None = None) -> InfrastructureProposal:
    """The serving platform is broken: page its owner with the replica states and events; nothing is trained or
    deployed, and accepting acknowledges the page."""
    from agent.policy.infrastructure import event_lines, problem_lines, replica_count

    base = _base(ctx, signals.model, evidence=evidence, brain=brain, incident_id=incident_id)
    backend = signals.workload.backend if signals.workload is not None else "unknown"
    return InfrastructureProposal(
        **base, title=f"Page the platform owner: {signals.model}'s serving replicas on {backend}",
        rationale=f"{reason.strip()} A retrain or a rollback would put another model on the same broken platform.",
        backend=backend, replicas=replica_count(signals), problems=problem_lines(signals),
        events=event_lines(signals), rollback_plan="nothing is deployed; routing is unchanged")
