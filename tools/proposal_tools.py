"""Proposal tools: the LLM may FILE a typed, costed proposal for a person to approve; nothing executes here.

Each drafts with ``agent.drafting`` and hands the draft to ``ctx.file_proposal`` (set by the graphs: it
opens the proposal's remediation thread, paused for approval). Without that hook the draft comes back
marked "not filed".
"""

from __future__ import annotations

from agent.context import OpsContext
from agent.drafting import DraftError, draft_promote, draft_retrain, draft_rollback, draft_threshold
from agent.proposals import Evidence, Proposal
from tools.common import ToolInputError, brain_of, clip, errors_as_data, require_model, window
from tools.results import ProposalFiled


def summary_line(p: Proposal) -> str:
    """One line a person can read in an inbox."""
    if p.kind == "retrain":
        return (f"retrain ({p.epochs} epochs), est. {p.estimated_train_seconds:.0f} s / ${p.estimated_cost_usd:.2f}; "
                f"must beat v{p.champion_version} by {p.gate_min_gain:g} {p.gate_metric}, then a "
                f"{p.canary_weight:.0%} canary")
    if p.kind == "rollback":
        return f"take v{p.bad_version} out of traffic; v{p.target_version} keeps serving"
    if p.kind == "promote":
        return f"v{p.version} becomes champion; v{p.champion_version} stays as the rollback target"
    if p.kind == "retune_threshold":
        return (f"v{p.version} threshold {p.current_threshold:.2f} -> {p.proposed_threshold:.2f} on a "
                f"{p.canary_weight:.0%} canary")
    if p.kind == "investigate_infrastructure":
        return clip(f"page the platform owner: {p.backend} {p.replicas}; " + "; ".join(p.problems[:2]), 200)
    return clip(p.problem, 200)


def _file(ctx: OpsContext, proposal: Proposal) -> ProposalFiled:
    if ctx.file_proposal is not None:
        filed, message = True, ctx.file_proposal(proposal)
    else:
        filed, message = False, "not filed: this session has no approvals inbox; the draft is shown only"
    return ProposalFiled(proposal_id=proposal.id, kind=proposal.kind, title=proposal.title,
                         summary=summary_line(proposal), filed=filed, message=clip(message, 300))


def _asked(reason: str) -> list[Evidence]:
    if not reason.strip():
        raise ToolInputError("reason is empty; say in a sentence why this change is needed, citing the evidence")
    return [Evidence(source="request", detail=clip(reason, 500))]


@errors_as_data(DraftError)
def propose_retrain(ctx: OpsContext, model: str, reason: str, window_minutes: float = 60,
                    epochs: int | None = None) -> ProposalFiled:
    """File a proposal to retrain a model on its recent labelled traffic plus the reference data; a person must
    approve it before anything runs. The proposal is costed (training time and dollars from the champion's last
    run), gated (the new version must beat the champion by 0.01 F1) and shipped as a canary. Use it for data or
    concept drift that hurt quality.

    Args:
        model: registered model name, e.g. "churn".
        reason: why, in one or two sentences, citing the evidence (drifted features, metric drop).
        window_minutes: the recent traffic to train on, in minutes (default 60).
        epochs: training epochs; omit to reuse the champion's setting.
    """
    evidence = _asked(reason)
    require_model(ctx, model)
    since, until = window(ctx, window_minutes)
    return _file(ctx, draft_retrain(ctx, model, reason=reason, window_since=since, window_until=until,
                                    evidence=evidence, brain=brain_of(ctx), epochs=epochs))


@errors_as_data(DraftError)
def propose_rollback(ctx: OpsContext, model: str, reason: str) -> ProposalFiled:
    """File a proposal to roll a model back: drop the canary, or, with no canary, return to the previous champion.
    A person must approve it first. Use it for a release that is slow, failing or worse than the one before.

    Args:
        model: registered model name, e.g. "churn".
        reason: why, in one or two sentences, citing the evidence (latency, error rate, metric drop).
    """
    evidence = _asked(reason)
    require_model(ctx, model)
    return _file(ctx, draft_rollback(ctx, model, reason=reason, evidence=evidence, brain=brain_of(ctx)))


@errors_as_data(DraftError)
def propose_promote(ctx: OpsContext, model: str, reason: str) -> ProposalFiled:
    """File a proposal to promote the deployed canary to champion (the old champion stays as rollback target).
    A person must approve it first. Use it when the canary is healthy and at least as good as the champion.

    Args:
        model: registered model name, e.g. "churn".
        reason: why, in one or two sentences, citing the evidence (canary SLOs, metrics).
    """
    evidence = _asked(reason)
    require_model(ctx, model)
    return _file(ctx, draft_promote(ctx, model, reason=reason, evidence=evidence, brain=brain_of(ctx)))


@errors_as_data(DraftError)
def propose_threshold(ctx: OpsContext, model: str, reason: str, threshold: float | None = None) -> ProposalFiled:
    """File a proposal to ship the champion with a new decision threshold, as a canary; a person must approve it.
    Without a threshold it is re-tuned for the best F1 on the recent labelled predictions. Use it for label shift
    (the share of positives changed) when the model still ranks customers well.

    Args:
        model: registered model name, e.g. "churn".
        reason: why, in one or two sentences, citing the evidence (positive rate, precision/recall).
        threshold: the new threshold between 0 and 1; omit to re-tune it on the labelled window.
    """
    evidence = _asked(reason)
    require_model(ctx, model)
    return _file(ctx, draft_threshold(ctx, model, proposed=threshold, reason=reason, evidence=evidence,
                                      brain=brain_of(ctx)))
