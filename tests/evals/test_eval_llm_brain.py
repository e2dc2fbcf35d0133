"""The benchmark with ``brain="llm"``, driven by a scripted chat model instead of an endpoint: the real runner,
world, service and triage graph on one fast scenario. The LLM's diagnosis is scored and its tokens and cost
reach results.json and report.md; when the LLM fails mid-triage the offline policy decides and the run says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.settings import Settings
from evals.report import write_outputs
from evals.runner import BenchmarkResult, run_benchmark
from evals.scenario_model import EvalScenario, load_dir
from tests.graphs.fakes import ScriptedChatModel, answer, tool_call

pytestmark = pytest.mark.slow

DIAGNOSIS = tool_call("LLMDiagnosis", detected=True, category="data_drift", culprit=["total_day_minutes"],
                      action="retrain", summary="Day-time minutes rose after a plan change; retrain on recent traffic.",
                      evidence=["monitoring: total_day_minutes drifted"], confidence=0.8)


def investigation() -> list[object]:
    """One read-only tool call, then the model's notes (two LLM calls: 120+200 in, 15+40 out tokens)."""
    return [tool_call("recent_deploys", model="churn", limit=3), answer("Day-time minutes rose; no release.")]


def scenario() -> EvalScenario:
    # Tick 0 is quiet (no findings, so no LLM call), tick 1 has the drift; no retrain is approved.
    s = load_dir(only=["covariate_drift_day_minutes"])[0]
    return s.model_copy(update={"approve": False, "ticks": 1})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[BenchmarkResult, Path, ScriptedChatModel]]:
    """Two benchmarks sharing one trained champion: the LLM answers, and the LLM times out at its diagnosis."""
    out: dict[str, tuple[BenchmarkResult, Path, ScriptedChatModel]] = {}
    templates = None
    for name, script in (("answers", [*investigation(), DIAGNOSIS]),
                         ("times_out", [*investigation(), TimeoutError("request timed out")])):
        folder = tmp_path_factory.mktemp(f"eval-llm-{name}")
        llm = ScriptedChatModel(script=script)
        settings = Settings(home=folder, llm_base_url=None, llm_api_key=None)  # no endpoint: only the fake
        result = run_benchmark([scenario()], folder, brain="llm", epochs=5, base_settings=settings, chat_model=llm,
                               show_progress_bar=False, templates=templates)
        templates = result.templates
        write_outputs(result, folder, "opsagent eval --brain llm")
        out[name] = (result, folder, llm)
    return out


def test_the_llm_brain_diagnoses_and_its_tokens_and_cost_are_reported(runs) -> None:
    result, folder, llm = runs["answers"]
    assert llm.script == []  # every scripted turn was used: investigate twice, then the typed diagnosis
    (score,), (run,) = result.scores, result.runs
    assert score.error is None and score.passed, score.misses()
    assert (score.detection.ok, score.localization.ok, score.root_cause.ok, score.mitigation.ok) == (True,) * 4
    tick = run.first_detection
    assert tick is not None and tick.brain == "llm scripted"  # the LLM's diagnosis, not the policy's
    assert "recent_deploys" in tick.tools
    assert (tick.tokens_in, tick.tokens_out) == (440, 70)  # 120+200+120 in, 15+40+15 out
    assert tick.cost_usd > 0 and result.totals.tokens_in == 440 and result.totals.llm_fallbacks == 0

    data = json.loads((folder / "results.json").read_text())
    assert data["brain"] == "llm"
    assert data["totals"]["tokens_in"] == 440 and data["totals"]["tokens_out"] == 70
    assert data["totals"]["cost_usd"] > 0 and data["totals"]["llm_fallbacks"] == 0
    assert data["cases"][0]["run"]["ticks"][1]["brain"] == "llm scripted"
    report = (folder / "report.md").read_text()
    assert "— llm brain" in report and "LLM: 440 in / 70 out tokens" in report
    assert "$0.0000" not in report  # a cost was estimated, not zero
    assert "— llm scripted" in report and "LLM 440 in / 70 out tokens" in report


def test_when_the_llm_times_out_the_offline_policy_decides_and_the_run_says_so(runs) -> None:
    result, folder, llm = runs["times_out"]
    assert llm.script == []
    (score,), (run,) = result.scores, result.runs
    assert score.passed, score.misses()  # the policy still diagnosed the drift right
    tick = run.first_detection
    assert tick is not None
    assert tick.brain.startswith("offline policy (LLM failed") and "timed out" in tick.brain
    assert (tick.tokens_in, tick.tokens_out) == (320, 55)  # the investigation was paid for before the timeout
    assert result.totals.llm_fallbacks == 1

    data = json.loads((folder / "results.json").read_text())
    assert data["totals"]["llm_fallbacks"] == 1 and data["totals"]["tokens_in"] == 320
    report = (folder / "report.md").read_text()
    assert "the LLM failed and the offline policy decided in 1 triage(s)" in report
    assert "offline policy (LLM failed" in report
