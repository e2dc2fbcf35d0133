"""The post-mortem's action items: the steps of the filed proposal (each closing on the milestone that makes it
done) and the prevention follow-ups of the incident's category (an alert, a data contract, a threshold)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.proposals import (
    FixDataProposal,
    InfrastructureProposal,
    PromoteProposal,
    Proposal,
    RetrainProposal,
    RollbackProposal,
    ThresholdProposal,
)
from agent.reports.postmortem_model import ActionItem
from agent.reports.render import utc_iso

if TYPE_CHECKING:
    from agent.diagnosis import Diagnosis, TriageSignals


def _item(text: str, closes_on: str | None = None) -> ActionItem:
    return ActionItem.model_validate({"text": text, "closes_on": closes_on})


def proposal_items(p: Proposal) -> list[ActionItem]:
    """The steps a person takes on proposal ``p``, each closing on the milestone that makes it done (and naming
    ``p``, so a successor can take their place: postmortem_events)."""
    return [item.model_copy(update={"proposal_id": p.id}) for item in _steps(p)]


def _steps(p: Proposal) -> list[ActionItem]:
    if isinstance(p, RetrainProposal):
        since = utc_iso(p.window_since) if p.window_since is not None else "the beginning"
        return [_item(f"Review retrain proposal {p.id} (records since {since}, {p.epochs} epochs; edit the window or "
                      "epochs if needed) and approve or reject it", "decided"),
                _item(f"After approval, watch the canary at {p.canary_weight:.0%} of traffic: promote only if it "
                      f"passes the {p.gate_metric} gate (+{p.gate_min_gain:g}) and live metrics hold, else roll back "
                      f"to champion v{p.champion_version}", "executed")]
    if isinstance(p, RollbackProposal):
        return [_item(f"Approve rollback proposal {p.id}: take v{p.bad_version} out of traffic, keep "
                      f"v{p.target_version or '-'} serving", "decided"),
                _item(f"Find out why v{p.bad_version} regressed before releasing it again")]
    if isinstance(p, ThresholdProposal):
        return [_item(f"Review threshold proposal {p.id}: v{p.version} decision threshold {p.current_threshold:.2f} "
                      f"-> {p.proposed_threshold:.2f} as a {p.canary_weight:.0%} canary", "decided"),
                _item("Watch precision and recall on the canary before promoting it", "executed")]
    if isinstance(p, FixDataProposal):
        return [_item(f"Fix the upstream feed for {', '.join(p.features) or 'the affected features'}: {p.problem}",
                      "resolved"),
                _item(f"Acknowledge proposal {p.id} once the feed is fixed, then re-run triage to confirm a clean "
                      "screen", "decided")]
    if isinstance(p, PromoteProposal):
        return [_item(f"Review promote proposal {p.id}: make v{p.version} the champion", "decided")]
    if isinstance(p, InfrastructureProposal):
        # Not the states again: the post-mortem gives them once, under Impact and Evidence.
        return [_item(f"Platform owner: look at {p.model}'s serving replicas on {p.backend} ("
                      + ("their states and events are under Evidence" if p.problems
                         else "fewer replicas ready than desired") + ")", "resolved"),
                _item(f"Acknowledge proposal {p.id} once paged, then re-run triage when the service is back",
                      "decided")]
    return []


_NO_PROPOSAL_ITEMS = {
    "retrain": "File a retrain proposal on the recent window (none was filed)",
    "rollback": "Roll the canary back to the champion (no proposal was filed)",
    "fix_data": "Fix the upstream feed for {culprit} (no proposal was filed)",
    "retune_threshold": "Propose a retuned decision threshold (none was filed)",
    "investigate_infrastructure": "Page the platform owner about the serving replicas (no proposal was filed)",
    "none": "Keep watching: the next scheduled triage re-checks the model",
}

# Prevention: what would have caught this earlier or stopped it, per category. Each names the thing to add.
_PREVENTION = {
    "data_drift": "Agree with the owners of the feed for {culprit} that changes which move it (a new plan, a new "
                  "market) are announced before they ship, and retrain ahead of them",
    "concept_drift": "Shorten the label delay for {model} so realised metrics catch a changed relation sooner",
    "label_shift": "Add an alert on {model}'s predicted positive rate, and review the decision threshold each "
                   "time the base rate moves",
    "data_quality": "Add a data contract on {culprit} at the feed's producer (types, nulls, ranges), so a break "
                    "fails there instead of reaching the model",
    "bad_release": "Tighten the release gate: require a shadow or canary comparison on live traffic before a "
                   "version takes all of it",
    "latency": "Add a latency alert on {model}'s p95 below the SLO, so a slow release pages before it breaches",
    "errors": "Add an error-rate alert on {model} below the SLO, so a failing release pages before it breaches",
    "infrastructure": "Add a readiness alert on {model}'s replicas (ready < desired for 5 min)",
}


def action_items(signals: TriageSignals, diagnosis: Diagnosis, proposal: Proposal | None) -> list[ActionItem]:
    """What people should do next: the proposal's steps, the category's prevention follow-up, label collection."""
    culprit = ", ".join(diagnosis.culprit) or "the affected features"
    items = proposal_items(proposal) if proposal else [
        _item(_NO_PROPOSAL_ITEMS[diagnosis.action].format(culprit=culprit),
              None if diagnosis.action == "none" else "resolved")]
    if diagnosis.action == "fix_data":
        items.append(_item("Do not retrain on this window: it holds the broken records", "resolved"))
    if diagnosis.action == "investigate_infrastructure":
        items.append(_item("Do not retrain or roll back: the model did not cause this, and a new version would "
                           "land on the same replicas", "resolved"))
    if diagnosis.detected and not signals.realised:
        items.append(_item("Collect labels for this window to confirm the realised impact"))
    if diagnosis.detected and diagnosis.category in _PREVENTION:
        items.append(_item(_PREVENTION[diagnosis.category].format(culprit=culprit, model=signals.model)))
    return items
