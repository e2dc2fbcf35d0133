"""The post-mortem rubric applied to a benchmark run: what the run concluded (the diagnosis and findings of the
tick that wrote the post-mortem, where the approval left the incident) as the rubric's expectation."""

from __future__ import annotations

from evals.postmortem_rubric import (
    Check,
    EvidenceFact,
    Outcome,
    PostmortemExpectation,
    RubricResult,
    missing_postmortem,
    score_postmortem,
)
from evals.scenario_model import EvalScenario
from evals.scoring import CaseScore, ScenarioRun, score_run


def outcome_of(run: ScenarioRun, proposal_id: str | None) -> Outcome:
    """Where the incident stood at the end of the run: the approved proposal's fate, else pending or nothing."""
    m = run.mitigation
    if m is None:
        return "pending" if proposal_id else "no_proposal"
    if m.status == "executed":
        return "resolved" if m.verified else "unverified"
    if m.status == "rejected":
        return "rejected"
    return "pending" if m.status == "pending" else "failed"  # failed, refused, interrupted


def postmortem_score(scenario: EvalScenario, run: ScenarioRun) -> RubricResult | None:
    """The rubric on the post-mortem of the incident the run is scored on; None where no incident was opened
    (or the run failed: its error is already a miss).

    It must agree with the diagnosis and findings of the tick that last wrote it (a later tick of the same
    incident may only have been recorded), and its status with where the run left the incident."""
    concluding = run.concluding_detection(scenario.expected.detectable_from)
    if run.error is not None or concluding is None or not concluding.incident_id:  # a failed run is scored apart
        return None
    mine = [t for t in run.ticks if t.detected and t.incident_id == concluding.incident_id]
    writer = next((t for t in reversed(mine) if t.wrote_postmortem), concluding)
    if run.postmortem_md is None:
        return missing_postmortem(f"no post-mortem of incident {concluding.incident_id} was found in the world")
    proposal_id = (run.mitigation.proposal_id if run.mitigation else
                   next((t.proposal_id for t in reversed(mine) if t.proposal_id), None))
    expected = PostmortemExpectation(category=writer.category, action=writer.action, culprit=writer.culprit,
                                     findings=writer.finding_facts, outcome=outcome_of(run, proposal_id),
                                     proposal_id=proposal_id,
                                     evidence=[EvidenceFact.model_validate(e) for e in run.postmortem_evidence],
                                     release=writer.release)
    return score_postmortem(run.postmortem_md, expected)


def score_case(scenario: EvalScenario, run: ScenarioRun) -> CaseScore:
    """The run's AIOpsLab verdicts (``score_run``) with its post-mortem's rubric result.

    A rubric that raises on some document is a failed check with the error, not the end of a benchmark that
    took half an hour to run (the runner's rule for a broken world, too)."""
    try:
        postmortem = postmortem_score(scenario, run)
    except Exception as exc:  # noqa: BLE001 - reported in the result, with its type
        postmortem = RubricResult(checks=[Check(name="rubric", ok=False, reason=f"the rubric raised "
                                                f"{type(exc).__name__}: {str(exc)[:200]}")])
    return score_run(scenario, run).model_copy(update={"postmortem": postmortem})
