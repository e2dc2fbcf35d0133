"""AIOpsLab scoring on hand-made runs: hits, misses with their reasons, false alarms, the totals and targets."""

from __future__ import annotations

from evals.scenario_model import EvalScenario
from evals.scoring import Mitigation, ScenarioRun, TickResult, score_run, targets, totals


def scenario(**kw) -> EvalScenario:
    base = {"name": "drift", "kind": "covariate_drift",
            "faults": [{"kind": "covariate_drift", "features": ["total_day_minutes"], "scale": 1.2}],
            "expected": {"detected": True, "category": "data_drift", "culprit": ["total_day_minutes"],
                         "action": "retrain"}}
    return EvalScenario.model_validate(base | kw)


RELEASE = scenario(name="broken", kind="broken_release", approve=True,
                   faults=[{"kind": "broken_release", "error_rate": 1.0}],
                   expected={"detected": True, "category": "errors", "culprit": ["@release"], "action": "rollback"})
CONTROL = scenario(name="quiet", kind="control", faults=[], expected={"detected": False})


def tick(n: int, detected: bool = False, **kw) -> TickResult:
    return TickResult(tick=n, detected=detected, **kw)


def run(name: str, *ticks: TickResult, **kw) -> ScenarioRun:
    return ScenarioRun(scenario=name, brain="offline policy", ticks=list(ticks), **kw)


def test_a_right_diagnosis_at_the_first_tick_scores_everything() -> None:
    s = score_run(scenario(), run("drift", tick(0), tick(1, True, category="data_drift", action="retrain",
                                                        culprit=["total_day_minutes", "total_eve_minutes"])))
    assert s.passed and s.misses() == []
    assert (s.detection.ok, s.localization.ok, s.root_cause.ok, s.mitigation.ok) == (True, True, True, True)
    assert s.false_alarm.ok is True and s.executed.ok is None  # not approved: execution does not apply
    assert s.ttd_ticks == 1
    assert "also named total_eve_minutes" in s.localization.reason  # extras are noted, not failed


def test_misses_say_what_was_said_and_what_was_expected() -> None:
    s = score_run(scenario(), run("drift", tick(0), tick(1, True, category="concept_drift", action="none")))
    assert not s.passed
    assert s.detection.ok is True
    assert s.localization.ok is False and "missed total_day_minutes; named nothing" in s.localization.reason
    assert s.root_cause.reason == "said concept_drift, expected data_drift"
    assert s.mitigation.reason == "chose none, expected retrain"
    assert len(s.misses()) == 3


def test_no_detection_is_a_miss_on_every_dimension_and_has_no_ttd() -> None:
    s = score_run(scenario(), run("drift", tick(0), tick(1, summary="nothing flagged"), tick(2)))
    assert s.detection.ok is False and "none of 2 ticks" in s.detection.reason
    assert s.localization.ok is s.root_cause.ok is s.mitigation.ok is False
    assert s.ttd_ticks is None


def test_a_late_detection_counts_with_its_tick_and_uses_that_ticks_diagnosis() -> None:
    s = score_run(scenario(), run("drift", tick(0), tick(1), tick(2, True, category="data_drift", action="retrain",
                                                                  culprit=["total_day_minutes"])))
    assert s.passed and s.ttd_ticks == 2
    t = totals([s], [])
    assert t.ttd_max_ticks == 2
    assert next(x for x in targets(t) if x.name == "time to detect").met is False


def test_release_culprit_resolves_to_the_shipped_version_and_execution_is_scored() -> None:
    ok = run("broken", tick(0), tick(1, True, category="errors", action="rollback", culprit=["3"], proposal_id="p"),
             released="3", mitigation=Mitigation(proposal_id="p", status="executed", verified=True, outcome="rolled"))
    s = score_run(RELEASE, ok)
    assert s.passed and s.localization.reason == "named 3" and s.executed.ok is True
    wrong = ok.model_copy(update={"released": "4", "mitigation": Mitigation(
        proposal_id="p", status="failed", verified=False, outcome="failed: no canary")})
    s = score_run(RELEASE, wrong)
    assert s.localization.ok is False and "missed 4" in s.localization.reason
    assert s.executed.ok is False and "failed, verified=False: failed: no canary" in s.executed.reason
    unfiled = score_run(RELEASE, run("broken", tick(0), tick(1, True, category="errors", action="rollback",
                                                                  culprit=["3"]), released="3"))
    assert unfiled.executed.reason == "no proposal was filed to approve"


def test_false_alarms_on_controls_and_on_the_quiet_tick() -> None:
    quiet = score_run(CONTROL, run("quiet", tick(0), tick(1), tick(2)))
    assert quiet.passed and quiet.false_alarm.ok is True and quiet.detection.ok is None
    alarm = score_run(CONTROL, run("quiet", tick(0), tick(1, True, category="data_drift", action="none",
                                                           summary="state drifted")))
    assert not alarm.passed and "tick 1 flagged data_drift → none" in alarm.false_alarm.reason
    early = score_run(scenario(), run("drift", tick(0, True, category="label_shift", action="retune_threshold"),
                                      tick(1, True, category="data_drift", action="retrain",
                                           culprit=["total_day_minutes"])))
    assert early.false_alarm.ok is False and "tick 0, before the fault" in early.false_alarm.reason
    assert early.detection.ok is True and early.ttd_ticks == 1  # detection counts only after the onset
    t = totals([quiet, alarm, early], [])
    assert (t.controls, t.false_alarms_controls, t.false_alarms_quiet_tick) == (2, 1, 1)
    fa = next(x for x in targets(t) if x.name == "false alarms")
    assert fa.met is False and fa.measured.startswith("2 ")


def test_a_failed_run_is_a_miss_with_its_error() -> None:
    s = score_run(RELEASE, run("broken", error="DeploymentError: the service did not become ready"))
    assert not s.passed and s.error
    assert s.detection.ok is False and "did not become ready" in s.detection.reason
    assert s.executed.ok is False
    c = score_run(CONTROL, run("quiet", error="boom"))
    assert not c.passed and c.false_alarm.ok is None  # a control that never ran is no false alarm, but no pass


def test_totals_and_targets_over_a_mixed_benchmark() -> None:
    right = score_run(scenario(), run("drift", tick(0), tick(1, True, category="data_drift", action="retrain",
                                                             culprit=["total_day_minutes"])))
    wrong_cause = score_run(scenario(), run("drift", tick(0), tick(1, True, category="concept_drift",
                                                                   action="retrain", culprit=["total_day_minutes"])))
    missed = score_run(scenario(), run("drift", tick(0), tick(1)))
    quiet = score_run(CONTROL, run("quiet", tick(0), tick(1)))
    runs = [run("drift", tick(0, tokens_in=10, tokens_out=5, cost_usd=0.001)), run("x", tick(1, tokens_in=1))]
    t = totals([right, wrong_cause, missed, quiet], runs, wall_seconds=12.5)
    assert (t.detection.hits, t.detection.of) == (2, 3)
    assert (t.root_cause.hits, t.root_cause.of) == (1, 3)
    assert (t.localization.hits, t.localization.of) == (2, 3)
    assert (t.mitigation.hits, t.mitigation.of) == (2, 3)
    assert t.executed.of == 0 and t.executed.text() == "n/a"
    assert (t.passed, t.runs, t.tokens_in, t.tokens_out) == (2, 4, 11, 5)
    assert t.ttd_mean_ticks == 1.0
    met = {x.name: x.met for x in targets(t)}
    assert met == {"detection": False, "false alarms": True, "localization": False, "root cause": False,
                   "mitigation": False, "time to detect": True, "post-mortem rubric": None}
