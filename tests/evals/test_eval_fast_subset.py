"""The real benchmark runner on a fast subset: on churn a quiet control, covariate drift and a broken release; on
credit (a second data set, its own champion) a quiet control and a categorical drift — each in its own served
world (real service on loopback, MLflow on SQLite, real triage graphs, the offline policy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from agent.settings import Settings
from evals.report import print_table, write_outputs
from evals.runner import BenchmarkResult, run_benchmark
from evals.scenario_model import load_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[BenchmarkResult, Path]:
    out = tmp_path_factory.mktemp("eval")
    chosen = {s.name: s for s in load_dir() if s.fast}
    assert set(chosen) == {"control_quiet", "covariate_drift_day_minutes", "broken_release", "credit_control_quiet",
                           "credit_covariate_drift_job"}
    # Smaller than the full benchmark: one tick after the quiet one, and no retrain (the broken release's
    # rollback still exercises approve → execute → verify).
    scenarios = [chosen["control_quiet"].model_copy(update={"ticks": 1}),
                 chosen["covariate_drift_day_minutes"].model_copy(update={"approve": False, "ticks": 1}),
                 chosen["broken_release"].model_copy(update={"ticks": 1}),
                 chosen["credit_control_quiet"].model_copy(update={"ticks": 1}),
                 chosen["credit_covariate_drift_job"].model_copy(update={"ticks": 1})]
    settings = Settings(home=out, llm_base_url=None, llm_api_key=None)
    return run_benchmark(scenarios, out, epochs=10, base_settings=settings, show_progress_bar=False), out


def test_the_fast_subset_scores_as_the_offline_policy_should(fast_run: tuple[BenchmarkResult, Path]) -> None:
    result, _ = fast_run
    by_name = {s.scenario: s for s in result.scores}
    assert all(s.error is None for s in result.scores), [s.misses() for s in result.scores]
    assert by_name["control_quiet"].false_alarm.ok is True
    drift = by_name["covariate_drift_day_minutes"]
    assert drift.detection.ok and drift.localization.ok and drift.root_cause.ok, drift.misses()
    broken = by_name["broken_release"]
    assert broken.passed, broken.misses()
    assert broken.executed.ok is True  # rolled back and verified
    run = next(r for r in result.runs if r.scenario == "broken_release")
    assert run.released and broken.localization.reason == f"named {run.released}"
    assert by_name["credit_control_quiet"].false_alarm.ok is True
    job = by_name["credit_covariate_drift_job"]
    assert job.detection.ok and job.localization.ok and job.root_cause.ok, job.misses()
    t = result.totals
    assert (t.runs, t.errors, t.false_alarms_controls, t.false_alarms_quiet_tick) == (5, 0, 0, 0)
    assert t.detection.value == 1.0 and t.ttd_max_ticks == 1
    assert set(result.templates) == {"churn", "credit"}  # one champion per data set
    assert result.templates["credit"].home != result.templates["churn"].home
    assert t.tokens_in == 0 and t.cost_usd == 0.0  # the offline brain calls no LLM


def test_each_incident_s_post_mortem_is_scored_by_the_rubric(fast_run: tuple[BenchmarkResult, Path]) -> None:
    # Each incident's post-mortem is read from its world after its approval, every check gives a reason, and the
    # offline writer meets the whole rubric (Step 11's target: 100 % on the offline brain).
    result, _ = fast_run
    by_name = {s.scenario: s for s in result.scores}
    for quiet in ("control_quiet", "credit_control_quiet"):
        assert by_name[quiet].postmortem is None  # no incident, no post-mortem: not applicable
    for name in ("covariate_drift_day_minutes", "broken_release", "credit_covariate_drift_job"):
        pm = by_name[name].postmortem
        assert pm is not None and pm.applicable >= 9, name
        assert "post-mortem written" not in {c.name for c in pm.checks}, pm.failures()  # found in its world
        assert all(c.reason for c in pm.checks)
        assert pm.passed == pm.applicable, (name, pm.failures())
        run = next(r for r in result.runs if r.scenario == name)
        assert run.postmortem_md and run.postmortem_md.startswith("# ")
    drift_tick = next(r for r in result.runs if r.scenario == "covariate_drift_day_minutes").ticks[-1]
    assert any(f.kind == "feature_drift" and f.subject == "total_day_minutes" and "statistic" in f.evidence
               for f in drift_tick.finding_facts)  # the typed findings, figures included, from the triage thread
    scored = [s.postmortem for s in result.scores if s.postmortem is not None]
    assert len(scored) == 3 and result.totals.postmortem_checks.of == sum(p.applicable for p in scored)


def test_the_three_outputs_exist_and_agree(fast_run: tuple[BenchmarkResult, Path]) -> None:
    result, out = fast_run
    console = Console(record=True, width=200)
    print_table(result, console)
    text = console.export_text()
    assert "broken_release" in text and "detection" in text and "false alarms" in text
    assert "per data set" in text and "credit · data_drift" in text
    md, js = write_outputs(result, out, "opsagent eval --fast")
    report = md.read_text()
    assert "## Verdicts" in report and "### broken_release — pass" in report
    assert "| executed | post-mortem | TTD (ticks) |" in report and "- post-mortem: " in report
    data = json.loads(js.read_text())
    assert data["totals"]["runs"] == 5 and data["rates"]["detection"] == 1.0
    assert data["totals"]["detection"] == {"hits": 3, "of": 3}
    assert {c["run"]["scenario"] for c in data["cases"]} == {"control_quiet", "covariate_drift_day_minutes",
                                                             "broken_release", "credit_control_quiet",
                                                             "credit_covariate_drift_job"}
    groups = {g["label"]: g for g in data["by_data_set"]}
    assert set(groups) == {"churn", "credit · step6", "all"}  # per model and batch: the credit ones are step6's
    credit = groups["credit · step6"]["totals"]
    assert credit["runs"] == 2 and credit["detection"] == {"hits": 1, "of": 1}
    assert groups["churn"]["totals"]["runs"] == 3 and groups["all"]["totals"]["runs"] == 5
    assert set(data["champions"]) == {"churn", "credit"}
    assert {c["model"] for c in data["cases"] if c["run"]["scenario"].startswith("credit_")} == {"credit"}
    assert data["command"] == "opsagent eval --fast"
    pm = {c["run"]["scenario"]: c["postmortem"] for c in data["cases"]}
    assert pm["control_quiet"] is None and pm["broken_release"]["applicable"] >= 9
    assert "postmortem_checks" in data["rates"] and "postmortems" in data["totals"]


def test_every_world_stopped_its_service(fast_run: tuple[BenchmarkResult, Path]) -> None:
    from ml_core.deploy.local import LocalBackend
    from ml_core.paths import HomeLayout

    result, _ = fast_run
    for run in result.runs:
        assert run.world
        model = "credit" if run.scenario.startswith("credit_") else "churn"
        assert not LocalBackend(HomeLayout(Path(run.world)), model).status().running

