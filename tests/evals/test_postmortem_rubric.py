"""The post-mortem rubric on small hand-written documents: one that meets the contract passes every check, and each
check fails once on a document that breaks it (with a reason that says what is wrong)."""

from __future__ import annotations

import pytest

from evals.postmortem_rubric import FindingFact, PostmortemExpectation, RubricResult, score_postmortem
from evals.postmortem_scoring import outcome_of, postmortem_score, score_case
from evals.scenario_model import load_dir
from evals.scoring import Mitigation, ScenarioRun, TickResult

DRIFT = FindingFact(kind="feature_drift", subject="total_day_minutes",
                    message="total_day_minutes drifted: wasserstein 0.312 (threshold 0.1), p=1e-12",
                    evidence={"statistic": 0.3121, "threshold": 0.1, "p_value": 1e-12})
F1_DROP = FindingFact(kind="performance_drop", subject="f1", message="realised f1 0.780 vs 0.875 (300 labels)",
                      evidence={"realised": 0.7804, "reference": 0.8751})
ERRORS = FindingFact(kind="error_rate_slo", subject="2", message="version 2 error/fallback rate 12.5% > 2.0%",
                     evidence={"error_rate": 0.125, "errors": 25.0})

RESOLVED = """# churn: data drift in total_day_minutes (retrain proposed)
**Status:** resolved

## Summary

Realised F1 fell after total_day_minutes moved; a retrain on the recent window fixed it.

## Impact

F1 0.780 against 0.875 on the champion's test set, over 300 labelled predictions.

## Detection

Scheduled triage at 06:40, one tick after the onset.

## Trigger and root cause

**Category:** data_drift
**Action:** retrain

The mean of `total_day_minutes` moved from 180 to 225 (+25 %).

### Evidence

- **feature_drift (warning)**: total_day_minutes drifted: wasserstein 0.312 (threshold 0.1), p=1e-12
- **performance_drop (critical)**: realised f1 0.780 vs 0.875 (300 labels)

## Resolution

Retrained v2 passed the gate and the canary; promoted at 06:45 and verified.

## Action items

- [x] Review retrain proposal p-1234 and approve or reject it
- [ ] Add an alert on the mean of total_day_minutes

## Lessons

- Went well: detected within a tick.

## Timeline

- 2026-01-01T06:40:00Z — monitoring check found 2 findings over 1000 predictions
- 2026-01-01T06:45:00Z — v2 promoted

## Links

- champion v2: `models:/churn/2`
"""


def expect(**kw: object) -> PostmortemExpectation:
    base: dict[str, object] = {"category": "data_drift", "action": "retrain", "culprit": ["total_day_minutes"],
                               "findings": [DRIFT, F1_DROP], "outcome": "resolved", "proposal_id": "p-1234"}
    return PostmortemExpectation.model_validate(base | kw)


def verdict(result: RubricResult, name: str) -> tuple[bool | None, str]:
    check = next(c for c in result.checks if c.name == name)
    return check.ok, check.reason


def test_a_document_that_meets_the_contract_passes_every_check() -> None:
    result = score_postmortem(RESOLVED, expect())
    assert result.failures() == []
    assert result.ok and result.score == 1.0
    # every check applies here but the release diff (a data-drift incident has no release behind it)
    assert result.text() == f"{len(result.checks) - 1}/{len(result.checks) - 1}"
    assert [c.name for c in result.checks] == [
        "title", "status line", "status matches outcome", "sections", "category", "action", "culprits",
        "release diff", "figures", "action item format", "action items current", "no duplicated evidence",
        "no dangling colon"]


@pytest.mark.parametrize(("name", "old", "new", "why"), [
    ("title", "# churn: data drift", "churn: data drift", "line 1 should be '# <title>'"),
    ("status line", "**Status:** resolved", "Status: resolved", "no '**Status:** <status>' line"),
    ("status line", "**Status:** resolved", "**Status:** fixed", "status 'fixed' is none of"),
    ("sections", "## Lessons", "## Learnings", "missing ## Lessons"),
    ("sections", "## Detection\n\nScheduled triage at 06:40, one tick after the onset.\n\n", "",
     "missing ## Detection"),
    ("sections", "## Links\n\n- champion v2: `models:/churn/2`\n", "", "missing ## Links"),
    ("sections", "### Evidence", "## Evidence", "other level-2 sections before ## Links: Evidence"),
    ("category", "**Category:** data_drift", "**Category:** concept_drift", "says concept_drift"),
    ("category", "**Category:** data_drift", "Data drift", "no '**Category:** ...' line"),
    ("action", "**Action:** retrain", "**Action:** rollback", "says rollback, the diagnosis says retrain"),
    ("figures", "0.780", "0.79", "not in the text: performance_drop f1 realised 0.7804"),
    ("action item format", "- [ ] Add an alert", "- Add an alert", "not a task item: - Add an alert"),
    ("action items current", "- [x] Review retrain proposal", "- [ ] Review retrain proposal",
     "stale after outcome resolved: - [ ] Review retrain proposal p-1234"),
    ("action items current", "- [ ] Add an alert", "- [ ] Watch the canary at 10% of traffic",
     "stale after outcome resolved: - [ ] Watch the canary"),
    ("no duplicated evidence", "The mean of", "Evidence: realised f1 0.780 vs 0.875 (300 labels). The mean of",
     "said 2 times: realised f1 0.780 vs 0.875"),
    ("no duplicated evidence", "- 2026-01-01T06:45:00Z — v2 promoted",
     "- 2026-01-01T06:45:00Z — v2 promoted\n- Went well: detected within a tick.", "line repeated: Went well"),
    ("no dangling colon", "found 2 findings over 1000 predictions", "found 2 findings over 1000 predictions:",
     "ends in a colon with nothing after: - 2026-01-01T06:40:00Z"),
    ("no dangling colon", "Retrained v2 passed", "**Verified:**\n\nRetrained v2 passed", "**Verified:**"),
])
def test_each_check_fails_on_a_document_that_breaks_it(name: str, old: str, new: str, why: str) -> None:
    assert old in RESOLVED
    result = score_postmortem(RESOLVED.replace(old, new), expect())
    ok, reason = verdict(result, name)
    assert ok is False and why in reason, reason
    assert result.score < 1.0 and not result.ok


def test_every_culprit_is_named_whole_in_the_root_cause_section() -> None:
    two = expect(culprit=["total_day_minutes", "total_day"])
    assert verdict(score_postmortem(RESOLVED, two), "culprits") == (False, "## Trigger and root cause does not "
                                                                            "name total_day")
    release = expect(culprit=["2"])  # a version may be written v2
    assert verdict(score_postmortem(RESOLVED.replace("moved from", "moved after v2, from"), release),
                   "culprits")[0] is True
    assert verdict(score_postmortem(RESOLVED, release), "culprits")[0] is False  # "v2" elsewhere does not count


@pytest.mark.parametrize(("status", "outcome", "ok"), [
    ("open", "pending", True), ("resolved", "pending", False),
    ("resolved", "resolved", True), ("mitigated", "resolved", True), ("open", "resolved", False),
    ("open", "unverified", True), ("resolved", "unverified", False), ("mitigated", "unverified", False),
    ("won't fix", "rejected", True), ("open", "rejected", True), ("resolved", "rejected", False),
    ("open", "failed", True), ("mitigated", "failed", False),
    ("open", "no_proposal", True), ("won't fix", "no_proposal", True), ("resolved", "no_proposal", False),
])
def test_the_status_must_fit_the_outcome_the_run_reached(status: str, outcome: str, ok: bool) -> None:
    doc = RESOLVED.replace("**Status:** resolved", f"**Status:** {status}")
    assert verdict(score_postmortem(doc, expect(outcome=outcome)), "status matches outcome")[0] is ok


def test_a_pending_proposal_needs_its_open_item_and_asking_for_it_is_not_stale() -> None:
    pending = RESOLVED.replace("**Status:** resolved", "**Status:** open").replace("- [x] Review", "- [ ] Review")
    assert verdict(score_postmortem(pending, expect(outcome="pending")), "action items current")[0] is True
    without = pending.replace("proposal p-1234", "the proposal")
    ok, reason = verdict(score_postmortem(without, expect(outcome="pending")), "action items current")
    assert ok is False and "proposal p-1234 awaits an answer" in reason


def test_checks_that_do_not_apply_are_left_out_of_the_score() -> None:
    quiet = expect(culprit=[], findings=[], outcome="no_proposal", proposal_id=None, action="none",
                   category="data_drift")
    doc = RESOLVED.replace("**Status:** resolved", "**Status:** open").replace("**Action:** retrain",
                                                                                "**Action:** none")
    result = score_postmortem(doc, quiet)
    assert {c.name for c in result.checks if c.ok is None} == {"culprits", "release diff", "figures",
                                                               "action items current"}
    assert result.applicable == len(result.checks) - 4 and result.score == 1.0


def test_figures_match_as_rendered_percentages_and_thousands_included() -> None:
    doc = RESOLVED.replace("F1 0.780 against 0.875", "F1 0.78 against 0.88; fallbacks 12.5 % of 1,000 answers")
    result = score_postmortem(doc, expect(findings=[F1_DROP, ERRORS]))
    assert verdict(result, "figures") == (True, "all 3 headline figure(s) of the findings are written")
    ids = doc + "\n- run `8e4512f9`, trace tr-1e999, p=1.8e-60\n"  # hex ids and tiny p-values are no figures
    assert verdict(score_postmortem(ids, expect(findings=[F1_DROP, ERRORS])), "figures")[0] is True
    # "1" does not stand for 0.96: a rounding step that coarse says nothing about the figure.
    coarse = FindingFact(kind="estimated_performance_drop", subject="f1", evidence={"estimated": 0.96})
    ok, reason = verdict(score_postmortem(RESOLVED.replace("0.875", "1"), expect(findings=[coarse])), "figures")
    assert ok is False and "estimated_performance_drop f1 estimated 0.96" in reason


# ---- applied to a benchmark run (evals.postmortem_scoring) ----------------------------------------
def _run(**kw: object) -> ScenarioRun:
    wrote = TickResult(tick=1, detected=True, category="data_drift", action="retrain", culprit=["total_day_minutes"],
                       incident_id="inc-1", proposal_id="p-1234", wrote_postmortem=True, finding_facts=[DRIFT, F1_DROP])
    held = TickResult(tick=2, detected=True, category="data_drift", action="retrain", culprit=["total_day_minutes"],
                      incident_id="inc-1", finding_facts=[ERRORS])  # recorded only: not what the document says
    return ScenarioRun.model_validate({"scenario": "drift", "brain": "offline", "postmortem_md": RESOLVED,
                                       "ticks": [TickResult(tick=0, detected=False), wrote, held]} | kw)


@pytest.mark.parametrize(("status", "verified", "outcome"), [
    ("executed", True, "resolved"), ("executed", False, "unverified"), ("rejected", False, "rejected"),
    ("pending", False, "pending"), ("refused", False, "failed"), ("interrupted", False, "failed")])
def test_the_outcome_is_where_the_approval_left_the_incident(status: str, verified: bool, outcome: str) -> None:
    run = _run(mitigation=Mitigation(proposal_id="p-1234", status=status, verified=verified))
    assert outcome_of(run, "p-1234") == outcome
    assert outcome_of(_run(), "p-1234") == "pending" and outcome_of(_run(), None) == "no_proposal"


def test_a_run_s_post_mortem_is_scored_against_the_tick_that_wrote_it() -> None:
    scenario = next(s for s in load_dir() if s.name == "covariate_drift_day_minutes")
    done = _run(mitigation=Mitigation(proposal_id="p-1234", status="executed", verified=True))
    result = postmortem_score(scenario, done)
    assert result is not None and result.failures() == []  # the held tick's error-rate figure is not required
    assert postmortem_score(scenario, _run(mitigation=None)).failures() == [  # type: ignore[union-attr]
        "status matches outcome: status 'resolved' after outcome pending; expected open",
        "action items current: proposal p-1234 awaits an answer, but no open item names it"]
    missing = postmortem_score(scenario, _run(postmortem_md=None))
    assert missing is not None and missing.failures() == [
        "post-mortem written: no post-mortem of incident inc-1 was found in the world"]
    assert postmortem_score(scenario, _run(error="DeploymentError: not ready")) is None  # the error is the miss
    assert postmortem_score(scenario, _run(ticks=[TickResult(tick=0, detected=False)])) is None  # no incident
    assert score_case(scenario, done).postmortem == result
    stale = score_case(scenario, done.model_copy(update={"postmortem_md": RESOLVED.replace("resolved\n", "open\n", 1)}))
    assert stale.postmortem is not None and not stale.postmortem.ok
    assert stale.passed  # the rubric is scored apart: it does not decide the scenario's verdict


def test_a_rubric_that_raises_is_a_failed_check_not_a_lost_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    import evals.postmortem_scoring as scoring

    def broken(*_a: object) -> None:
        raise OverflowError("numerical result out of range")

    monkeypatch.setattr(scoring, "postmortem_score", broken)
    scenario = next(s for s in load_dir() if s.name == "covariate_drift_day_minutes")
    pm = score_case(scenario, _run()).postmortem
    assert pm is not None and pm.failures() == ["rubric: the rubric raised OverflowError: numerical result out of "
                                                "range"]

