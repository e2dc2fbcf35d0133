"""What an approved proposal does, kind by kind. Only the remediation graph calls this, and only after a
person accepted: retrain → gate → canary → watch → promote or roll back; rollback; promote; a new
decision threshold shipped as a canary; a data fix acknowledged (a person fixes the feed). A proposal for
the user's own serving system or training pipeline (``executor="user"``) is recorded as handed over, never run.
"""

from __future__ import annotations

from collections.abc import Callable

from agent.context import OpsContext
from agent.k8s_training import proposal_trainer
from agent.proposals import (
    FixDataProposal,
    InfrastructureProposal,
    PromoteProposal,
    Proposal,
    RetrainProposal,
    RollbackProposal,
    ThresholdProposal,
)
from graphs.canary import ResumeUnsafe, decide_canary, route_canary, serving, watch_canary
from graphs.execution import Execution
from ml_core.deploy.base import DeploymentError
from ml_core.failpoints import failpoint
from ml_core.pipeline import ResumeConflictError, RetrainRequest, retrain
from ml_core.registry import PROPOSAL_TAG
from ml_core.release import register_model_bundle
from ml_core.spec.data import retrain_reference
from ml_core.training import TrainConfig


def execute(ctx: OpsContext, proposal: Proposal) -> Execution:
    """Every phase in one go (the graph runs them one checkpointed step at a time with ``run_phase``)."""
    run = Execution()
    while not run.finished:
        run_phase(ctx, proposal, run)
    return run


def run_phase(ctx: OpsContext, proposal: Proposal, run: Execution) -> Execution:
    """Run the phase ``run.phase`` names and move ``run.phase`` to the next one. A phase may run again after a
    crash: each reads what is already done before acting (see graphs.canary)."""
    try:
        _PHASES[(_kind(proposal), run.phase)](ctx, proposal, run)
    except (ResumeUnsafe, ResumeConflictError) as exc:
        run.ok, run.interrupted_at, run.phase = False, run.phase, "interrupted"
        run.outcome = f"interrupted: {exc}"
        run.step(ctx, run.outcome)
    except (DeploymentError, ValueError, RuntimeError) as exc:
        run.ok, run.phase = False, "done"
        run.outcome = f"failed: {exc}"
        run.step(ctx, run.outcome)
    return run


def _kind(p: Proposal) -> str:
    return "user" if p.executor == "user" else p.kind


def _hand_over(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    """A user action (a model opsagent does not serve or train): record that it is the user's to carry out.
    Nothing is deployed or trained, so nothing is verified or claimed fixed; the next triage judges the effect."""
    run.ok, run.phase = True, "done"
    run.result.update({"handed_over": True, "executor": "user"})
    run.outcome = (f"handed over to the user: {p.title}. opsagent did not carry it out (no deployment, no "
                   "training); the next triage sees its effect in the predictions sent in")
    ctx.approvals.audit.append("handed_over", actor=ctx.actor, via=ctx.via, proposal_id=p.id,
                               detail={"kind": p.kind, "executor": "user"})
    run.step(ctx, run.outcome)


def _retrain(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    assert isinstance(p, RetrainProposal)
    serving(ctx, p.model)  # fail before spending minutes on training when nothing could take the canary
    trainer = proposal_trainer(ctx, p, lambda m: run.step(ctx, m))
    where = f"on Kubernetes ({p.nodes} pod(s) x {p.nproc} process(es)), " if trainer else (
        f"{p.nproc} DDP processes, " if p.nproc > 1 else "")
    run.step(ctx, f"retraining {p.model}: {p.epochs} epochs, seed {p.seed}, {where}gate on {p.gate_metric} "
                  f"(min gain {p.gate_min_gain:+.3f})")
    spec = ctx.spec(p.model)
    with ctx.prediction_log(p.model) as log:
        out = retrain(ctx.registry, log, RetrainRequest(
            model_name=p.model, window_since=p.window_since, window_until=p.window_until,
            include_reference=p.include_reference,
            config=TrainConfig(epochs=p.epochs, seed=p.seed, lr=p.learning_rate,
                               exclude_columns=tuple(spec.exclude_from_training)),
            nproc=p.nproc, policy=spec.gate.model_copy(update={"metric": p.gate_metric, "min_gain": p.gate_min_gain}),
            reason=p.title, proposal_id=p.id), reference=retrain_reference(spec) if p.include_reference else None,
            on_step=lambda m: run.step(ctx, m), schema=spec.schema, trainer=trainer)
    run.result.update({"version": out.version, "run_id": out.run_id, "gate_passed": out.verdict.passed,
                       "gate": "; ".join(out.verdict.reasons), "train_seconds": round(out.seconds, 1),
                       "challenger_metrics": out.challenger_metrics, "rows_window": out.rows_window,
                       "canary_weight": p.canary_weight, "resumed_training": out.resumed})
    run.ok = True
    if not out.verdict.passed:
        run.outcome = f"gate refused v{out.version}: {'; '.join(out.verdict.reasons)}; the champion is unchanged"
        run.step(ctx, run.outcome)
        run.phase = "done"
        return
    run.phase = "canary"


def _threshold(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    assert isinstance(p, ThresholdProposal)
    serving(ctx, p.model)
    done = ctx.registry.versions_for_proposal(p.model, p.id)
    if done:  # registered before a crash
        version = done[0].version
        run.step(ctx, f"resumed: v{version} was already registered with threshold {p.proposed_threshold:.3f}")
    else:
        model = ctx.registry.load(p.model, p.version)
        model.threshold = p.proposed_threshold
        info = register_model_bundle(ctx.registry, p.model, model, run_name=f"threshold-{p.model}",
                                     tags={"parent_version": p.version, PROPOSAL_TAG: p.id,
                                           "threshold_from": f"{p.current_threshold:.4f}",
                                           "threshold": f"{p.proposed_threshold:.4f}"})
        failpoint("after_register")
        version = info.version
        run.step(ctx, f"registered v{version}: v{p.version} with threshold {p.current_threshold:.3f} → "
                      f"{p.proposed_threshold:.3f}")
    run.result.update({"version": version, "canary_weight": p.canary_weight})
    run.ok, run.phase = True, "canary"


def _canary(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    forced_by = ""
    if isinstance(p, ThresholdProposal):
        # The gate judges a retrained model against the champion on held-out rows; a new threshold is chosen for
        # traffic those rows no longer represent, so no gate judged this version: the person who accepted the
        # proposal is the override, routed with force and audited under the proposal. The canary watch decides.
        forced_by = (f"threshold proposal {p.id} accepted: v{p.version} with threshold "
                     f"{p.current_threshold:.3f} → {p.proposed_threshold:.3f}")
    route_canary(ctx, p.model, p.champion_version, run, forced_by=forced_by, proposal_id=p.id)
    run.phase = "watch"


def _watch(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    watch_canary(ctx, p.model, run)
    run.phase = "decide"


def _decide(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    decide_canary(ctx, p.model, run)
    run.phase = "done"


def _fix_data(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    assert isinstance(p, FixDataProposal)
    run.ok, run.phase = True, "done"
    run.outcome = (f"acknowledged: the upstream feed must be fixed ({', '.join(p.features)}: {p.problem}); "
                   "nothing was deployed")


def _investigate_infrastructure(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    assert isinstance(p, InfrastructureProposal)
    run.ok, run.phase = True, "done"
    states = "; ".join(p.problems[:3]) or p.replicas
    run.outcome = (f"acknowledged: the platform owner was paged about {p.model}'s serving replicas on {p.backend} "
                   f"({states}); nothing was trained or deployed")


def _rollback(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    assert isinstance(p, RollbackProposal)
    backend, status = serving(ctx, p.model)
    run.phase = "done"
    if p.bad_version not in (status.champion, status.canary):  # rolled back before a crash: never twice
        run.ok, run.fixed = True, True
        run.result.update({"champion": status.champion, "canary": status.canary})
        run.outcome = f"rolled back: v{p.bad_version} is out of traffic; champion v{status.champion}"
        run.step(ctx, f"resumed: v{p.bad_version} was already out of traffic")
        return
    after = backend.rollback()
    run.ok = True
    run.fixed = p.bad_version not in (after.champion, after.canary)
    run.result.update({"champion": after.champion, "canary": after.canary})
    run.outcome = (f"rolled back: v{p.bad_version} is out of traffic; champion v{after.champion}" if run.fixed
                   else f"rollback ran but v{p.bad_version} still serves (champion v{after.champion}, "
                        f"canary {after.canary})")
    run.step(ctx, run.outcome)


def _promote(ctx: OpsContext, p: Proposal, run: Execution) -> None:
    assert isinstance(p, PromoteProposal)
    backend, status = serving(ctx, p.model)
    run.phase = "done"
    if status.champion == p.version and status.canary is None:  # promoted before a crash
        run.ok = run.fixed = True
        run.result["champion"] = p.version
        run.outcome = f"promoted v{p.version} to champion"
        run.step(ctx, f"resumed: v{p.version} was already the champion")
        return
    if status.canary != p.version:
        raise DeploymentError(f"v{p.version} is no longer the canary (canary: {status.canary}); nothing promoted")
    after = backend.promote()
    run.ok = True
    run.fixed = after.champion == p.version
    run.result["champion"] = after.champion
    run.outcome = f"promoted v{p.version} to champion"
    run.step(ctx, run.outcome)


_PHASES: dict[tuple[str, str], Callable[[OpsContext, Proposal, Execution], None]] = {
    ("user", "start"): _hand_over,
    ("retrain", "start"): _retrain, ("retune_threshold", "start"): _threshold,
    **{(kind, phase): fn for kind in ("retrain", "retune_threshold")
       for phase, fn in (("canary", _canary), ("watch", _watch), ("decide", _decide))},
    ("rollback", "start"): _rollback, ("promote", "start"): _promote, ("fix_data", "start"): _fix_data,
    ("investigate_infrastructure", "start"): _investigate_infrastructure,
}
