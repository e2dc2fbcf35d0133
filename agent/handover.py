"""Proposals for models opsagent does not serve or train: actions handed over to the user's own systems.

A spec with ``source: external`` is served elsewhere (its predictions are ingested): opsagent cannot roll it
back, canary or promote it, or ship a new threshold. A spec with ``trainable: false`` is trained by the user's
pipeline. Their proposals say so plainly — "retrain with your pipeline on …", "roll back to vN in your
serving system" — keep their evidence, and carry ``executor="user"``: executing an approved one records the
hand-over (``graphs.execute``) and deploys or trains nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypeVar

from agent.context import OpsContext
from agent.proposals import Executor, ProposalBase, RetrainProposal, RollbackProposal, ThresholdProposal
from ml_core.spec.errors import SpecError

P = TypeVar("P", bound=ProposalBase)
SERVING_ACTIONS = frozenset({"retrain", "rollback", "promote", "retune_threshold"})  # each ships or moves a version


class HandOverError(ValueError):
    """A user action that cannot be drafted (one version only: nothing to roll back to); says why."""


def executor_for(ctx: OpsContext, model: str, kind: str) -> Executor:
    """Who would carry out a ``kind`` proposal for ``model``, from its spec (no spec: opsagent, as before)."""
    try:
        spec = ctx.spec(model)
    except SpecError:
        return "opsagent"
    if spec.source == "external" and kind in SERVING_ACTIONS:
        return "user"  # a retrain ends in a canary, which only the user's serving system can run
    return "user" if kind == "retrain" and not spec.trainable else "opsagent"


def when(ts: float) -> str:
    """A time for a proposal's text: ``2024-05-01 12:00 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _who(ctx: OpsContext, model: str) -> str:
    spec = ctx.spec(model)
    return (f"opsagent does not serve {model} (its predictions are sent in)" if spec.source == "external"
            else f"opsagent does not train {model} (its spec says trainable: false)")


def hand_over(ctx: OpsContext, proposal: P, *, reason: str) -> P:
    """``proposal`` as an action for the user's systems when its model's spec says so; else unchanged."""
    if executor_for(ctx, proposal.model, getattr(proposal, "kind", "")) == "opsagent":
        return proposal
    m, who = proposal.model, _who(ctx, proposal.model)
    champ = f"v{proposal.champion_version}" if proposal.champion_version else "the current version"
    update: dict[str, Any] = {"executor": "user"}
    if isinstance(proposal, RetrainProposal):
        span = (f"{when(proposal.window_since)} to {when(proposal.window_until)}"
                if proposal.window_since and proposal.window_until else "your latest labelled data")
        update.update(
            title=f"Retrain {m} with your training pipeline on {span} (a user action: {who.split(' (')[0]})",
            rationale=(f"{reason.strip()} Expected: {proposal.expected_gain}. This is an action for your training "
                       f"pipeline, because {who}: retrain on the records from {span} (opsagent's prediction log "
                       f"holds them with their delayed labels), check the new version beats {champ} on "
                       f"{proposal.gate_metric.upper()} by {proposal.gate_min_gain:+.3f}, and ship it through your "
                       "serving system. Approving records the hand-over; opsagent trains and deploys nothing."),
            estimated_train_seconds=0.0, estimated_cost_usd=0.0,
            rollback_plan=f"keep {champ} serving in your system until the new version passes your checks")
    elif isinstance(proposal, ThresholdProposal):
        update.update(
            title=f"Set {m}'s decision threshold to {proposal.proposed_threshold:.2f} (now "
                  f"{proposal.current_threshold:.2f}) in your serving system",
            rationale=f"{proposal.rationale} This is an action for your serving system, because {who}; approving "
                      "records the hand-over and opsagent changes nothing.",
            rollback_plan=f"set the threshold back to {proposal.current_threshold:.2f} in your serving system")
    return proposal.model_copy(update=update)


def user_rollback(ctx: OpsContext, base: dict[str, Any], model: str, *, reason: str, culprit: Sequence[str],
                  since: float | None, until: float | None) -> RollbackProposal:
    """Roll back in the user's serving system, to the version that served before the blamed one (by the log)."""
    until = until if until is not None else ctx.clock()
    since = since if since is not None else until - ctx.settings.triage_window_minutes * 60
    bad, target = _versions_to_swap(ctx, model, culprit, since, until)
    who = _who(ctx, model)
    return RollbackProposal(
        **base, executor="user",
        title=f"Roll back {model} to v{target} in your serving system: take v{bad} out of traffic",
        rationale=(f"{reason.strip()} This is an action for your serving system, because {who}: route its traffic "
                   f"back to v{target}. Approving records the hand-over; opsagent deploys nothing, and the next "
                   "triage sees the change in the predictions you send."),
        bad_version=bad, target_version=target,
        rollback_plan=f"route traffic to v{bad} again in your serving system if it was wrongly blamed")


def _versions_to_swap(ctx: OpsContext, model: str, culprit: Sequence[str], since: float,
                      until: float) -> tuple[str, str]:
    """(the version to take out, the one to go back to), from the versions the predictions name."""
    with ctx.prediction_log(model) as log:
        seen = log.predictions(None, until, with_features=False)
    if not len(seen):
        raise HandOverError(f"no predictions of '{model}' were sent in, so no version to roll back")
    first_seen = seen.groupby(seen["version"].astype(str))["ts"].min().sort_values()
    recent = seen[seen["ts"] >= since]["version"].astype(str)
    blamed = [v for v in culprit if v in first_seen.index]
    bad = blamed[0] if blamed else (str(first_seen.index[-1]) if not len(recent) else
                                    max(set(recent), key=lambda v: first_seen[v]))
    earlier = [str(v) for v in first_seen.index if v != bad and first_seen[v] <= first_seen[bad]]
    if not earlier:
        raise HandOverError(f"v{bad} is the only version of '{model}' in the predictions sent in: nothing to roll "
                            "back to")
    return bad, earlier[-1]
