"""What an approved proposal does, kind by kind. Only the remediation graph calls this, and only after a
person accepted: retrain → gate → canary → watch → promote or roll back; rollback; promote; a new
decision threshold shipped as a canary; a data fix acknowledged (a person fixes the feed). A proposal for
the user's own serving system or training pipeline (``executor="user"``) is recorded as handed over, never run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from agent.audit import audit_deploy_override
from agent.context import OpsContext
from agent.proposals import (
    FixDataProposal,
    PromoteProposal,
    Proposal,
    RetrainProposal,
    RollbackProposal,
    ThresholdProposal,
)
from graphs.signals import realised_by_version
from ml_core.deploy.base import DeploymentBackend, DeploymentError, DeploymentStatus
from ml_core.pipeline import RetrainRequest, retrain
from ml_core.release import register_model_bundle
from ml_core.spec.data import retrain_reference
from ml_core.training import TrainConfig

CANARY_MAX_F1_LOSS = 0.05  # with enough labels, a canary worse than this against the champion is rolled back
CANARY_MIN_LABELS = 50


@dataclass
class Execution:
    ok: bool  # the steps ran (a gate that refuses is still ok: nothing broke, nothing shipped)
    fixed: bool  # the change is live and passed its checks
    outcome: str
    steps: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def execute(ctx: OpsContext, proposal: Proposal) -> Execution:
    if proposal.executor == "user":
        return _hand_over(ctx, proposal)
    run = Execution(ok=False, fixed=False, outcome="")
    try:
        if isinstance(proposal, RetrainProposal):
            _retrain(ctx, proposal, run)
        elif isinstance(proposal, ThresholdProposal):
            _threshold(ctx, proposal, run)
        elif isinstance(proposal, RollbackProposal):
            _rollback(ctx, proposal, run)
        elif isinstance(proposal, PromoteProposal):
            _promote(ctx, proposal, run)
        elif isinstance(proposal, FixDataProposal):
            run.ok = True
            run.outcome = (f"acknowledged: the upstream feed must be fixed ({', '.join(proposal.features)}: "
                           f"{proposal.problem}); nothing was deployed")
    except (DeploymentError, ValueError, RuntimeError) as exc:
        run.ok = False
        run.outcome = f"failed: {exc}"
        _step(ctx, run, run.outcome)
    return run


def _hand_over(ctx: OpsContext, p: Proposal) -> Execution:
    """A user action (a model opsagent does not serve or train): record that it is the user's to carry out.
    Nothing is deployed or trained, so nothing is verified or claimed fixed; the next triage judges the effect."""
    run = Execution(ok=True, fixed=False, result={"handed_over": True, "executor": "user"}, outcome=(
        f"handed over to the user: {p.title}. opsagent did not carry it out (no deployment, no training); "
        "the next triage sees its effect in the predictions sent in"))
    ctx.approvals.audit.append("handed_over", actor=ctx.actor, via=ctx.via, proposal_id=p.id,
                               detail={"kind": p.kind, "executor": "user"})
    _step(ctx, run, run.outcome)
    return run


def _step(ctx: OpsContext, run: Execution, line: str) -> None:
    run.steps.append(line)
    ctx.progress(line)


def _serving(ctx: OpsContext, model: str) -> tuple[DeploymentBackend, DeploymentStatus]:
    backend = ctx.backend(model)
    status = backend.status()
    if not status.running or not status.url:
        raise DeploymentError(f"the {model} service is not running; start it with `opsagent deploy start`")
    return backend, status


def _retrain(ctx: OpsContext, p: RetrainProposal, run: Execution) -> None:
    _serving(ctx, p.model)  # fail before spending minutes on training when nothing could take the canary
    _step(ctx, run, f"retraining {p.model}: {p.epochs} epochs, seed {p.seed}, gate on {p.gate_metric} "
                    f"(min gain {p.gate_min_gain:+.3f})")
    spec = ctx.spec(p.model)
    with ctx.prediction_log(p.model) as log:
        out = retrain(ctx.registry, log, RetrainRequest(
            model_name=p.model, window_since=p.window_since, window_until=p.window_until,
            include_reference=p.include_reference,
            config=TrainConfig(epochs=p.epochs, seed=p.seed, lr=p.learning_rate,
                               exclude_columns=tuple(spec.exclude_from_training)),
            policy=spec.gate.model_copy(update={"metric": p.gate_metric, "min_gain": p.gate_min_gain}),
            reason=p.title), reference=retrain_reference(spec) if p.include_reference else None,
            on_step=lambda m: _step(ctx, run, m), schema=spec.schema)
    run.result.update({"version": out.version, "run_id": out.run_id, "gate_passed": out.verdict.passed,
                       "gate": "; ".join(out.verdict.reasons), "train_seconds": round(out.seconds, 1),
                       "challenger_metrics": out.challenger_metrics, "rows_window": out.rows_window})
    run.ok = True
    if not out.verdict.passed:
        run.outcome = f"gate refused v{out.version}: {'; '.join(out.verdict.reasons)}; the champion is unchanged"
        _step(ctx, run, run.outcome)
        return
    _canary_then_decide(ctx, p.model, out.version, p.canary_weight, run)


def _threshold(ctx: OpsContext, p: ThresholdProposal, run: Execution) -> None:
    _serving(ctx, p.model)
    model = ctx.registry.load(p.model, p.version)
    model.threshold = p.proposed_threshold
    info = register_model_bundle(ctx.registry, p.model, model, run_name=f"threshold-{p.model}",
                                 tags={"parent_version": p.version, "threshold_from": f"{p.current_threshold:.4f}",
                                       "threshold": f"{p.proposed_threshold:.4f}"})
    _step(ctx, run, f"registered v{info.version}: v{p.version} with threshold {p.current_threshold:.3f} → "
                    f"{p.proposed_threshold:.3f}")
    run.result["version"] = info.version
    run.ok = True
    # The gate judges a retrained model against the champion on held-out rows; a new threshold is chosen for
    # traffic those rows no longer represent, so no gate judged this version: the person who accepted the
    # proposal is the override, routed with force and audited under the proposal. The canary watch still decides.
    _canary_then_decide(ctx, p.model, info.version, p.canary_weight, run,
                        forced_by=f"threshold proposal {p.id} accepted: v{p.version} with threshold "
                                  f"{p.current_threshold:.3f} → {p.proposed_threshold:.3f}", proposal_id=p.id)


def _canary_then_decide(ctx: OpsContext, model: str, version: str, weight: float, run: Execution, *,
                        forced_by: str = "", proposal_id: str | None = None) -> None:
    """Canary ``version``, watch it, then promote or roll back. ``forced_by`` routes a version no gate judged
    (the reason is recorded with the deployment and audited as ``deploy_override``)."""
    backend, status = _serving(ctx, model)
    routed = backend.deploy_canary(version, weight, force=bool(forced_by), reason=forced_by)
    if routed.override is not None:
        audit_deploy_override(ctx.approvals.audit, model, routed.override, actor=ctx.actor, via=ctx.via,
                              proposal_id=proposal_id)
        _step(ctx, run, f"v{version} is routed past the deploy gate ({routed.override.gate}): {forced_by}")
    _step(ctx, run, f"canary: v{version} takes {weight:.0%} of traffic (smoke-tested before any request)")
    since = ctx.clock()
    _watch(ctx, status.url or "", model)
    problems, seen = canary_problems(ctx, model, version, since)
    run.result.update({"canary_requests": seen, "canary_problems": problems})
    if problems:
        backend.rollback()
        run.outcome = f"canary v{version} rolled back: {'; '.join(problems)}"
        _step(ctx, run, run.outcome)
        return
    after = backend.promote()
    run.fixed = after.champion == version
    run.result["champion"] = after.champion
    run.outcome = f"canary v{version} healthy over {seen} requests; promoted to champion"
    _step(ctx, run, run.outcome)


def _watch(ctx: OpsContext, url: str, model: str) -> None:
    seconds = ctx.settings.canary_watch_s
    if ctx.canary_traffic is not None:
        ctx.progress("watching the canary under replayed traffic")
        ctx.canary_traffic(url, seconds)
        return
    ctx.progress(f"watching the canary for {seconds:g} s of live traffic")
    deadline = time.time() + seconds
    while time.time() < deadline:
        time.sleep(min(5.0, max(0.0, deadline - time.time())))


def canary_problems(ctx: OpsContext, model: str, version: str, since: float) -> tuple[list[str], int]:
    """Why the canary must not be promoted (empty when healthy), and how many requests it served."""
    watched = ctx.check_window(model, since=since, until=ctx.clock() + 1, write_report=False)
    with ctx.prediction_log(model) as log:
        window = log.predictions(since, ctx.clock() + 1, with_features=False)
    served = int((window["version"].astype(str) == version).sum()) if len(window) else 0
    problems = [f.message for f in watched.result.findings
                if f.kind in ("latency_slo", "error_rate_slo") and f.subject == version]
    if served < ctx.settings.canary_min_requests:
        problems.append(f"the canary served only {served} requests (need {ctx.settings.canary_min_requests})")
    # Each version decided at its own threshold, so compare the decisions each actually made.
    by_version = realised_by_version(ctx, model, since, ctx.clock() + 1)
    canary = by_version.get(version, {"n": 0.0, "f1": 0.0})
    others = [v for k, v in by_version.items() if k != version]
    n_others = sum(v["n"] for v in others)
    if canary["n"] >= CANARY_MIN_LABELS and n_others >= CANARY_MIN_LABELS:
        f1_others = sum(v["f1"] * v["n"] for v in others) / n_others
        if canary["f1"] < f1_others - CANARY_MAX_F1_LOSS:
            problems.append(f"canary F1 {canary['f1']:.3f} vs champion {f1_others:.3f} on labelled traffic")
    return problems, served


def _rollback(ctx: OpsContext, p: RollbackProposal, run: Execution) -> None:
    backend, status = _serving(ctx, p.model)
    after = backend.rollback()
    run.ok = True
    run.fixed = p.bad_version not in (after.champion, after.canary)
    run.result.update({"champion": after.champion, "canary": after.canary})
    run.outcome = (f"rolled back: v{p.bad_version} is out of traffic; champion v{after.champion}" if run.fixed
                   else f"rollback ran but v{p.bad_version} still serves (champion v{after.champion}, "
                        f"canary {after.canary})")
    _step(ctx, run, run.outcome)


def _promote(ctx: OpsContext, p: PromoteProposal, run: Execution) -> None:
    backend, status = _serving(ctx, p.model)
    if status.canary != p.version:
        raise DeploymentError(f"v{p.version} is no longer the canary (canary: {status.canary}); nothing promoted")
    after = backend.promote()
    run.ok = True
    run.fixed = after.champion == p.version
    run.result["champion"] = after.champion
    run.outcome = f"promoted v{p.version} to champion"
    _step(ctx, run, run.outcome)
