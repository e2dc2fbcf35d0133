"""`opsagent eval` refuses bad input with a clear message and exit code 2, before building any world."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent.settings import Settings
from evals.runner import EvalError, run_benchmark
from evals.scenario_model import load_dir
from interfaces.cli.eval_cmd import eval_

app = typer.Typer()
app.command("eval")(eval_)
app.command("noop")(lambda: None)  # two commands: typer keeps "eval" as a sub-command name


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OPSAGENT_HOME", str(tmp_path / "home"))
    for key in ("OPSAGENT_LLM_BASE_URL", "OPSAGENT_LLM_API_KEY", "OPSAGENT_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["eval", *args])
    return result.exit_code, " ".join(result.output.split())  # rich wraps long lines


def test_llm_brain_without_an_endpoint_exits_2_with_what_to_set(env: Path) -> None:
    code, out = invoke("--brain", "llm")
    assert code == 2 and "OPSAGENT_LLM_BASE_URL" in out and "--brain offline" in out
    assert not (env / "home" / "evals").exists()  # nothing was built


def test_unknown_brain_bad_folder_bad_file_and_unknown_scenario_are_messages(env: Path) -> None:
    assert invoke("--brain", "oracle")[0] == 2
    code, out = invoke("--scenarios", str(env / "nowhere"))
    assert code == 2 and "no such folder" in out
    folder = env / "mine"
    folder.mkdir()
    (folder / "broken.yaml").write_text("name: broken\nkind: control\n")
    code, out = invoke("--scenarios", str(folder))
    assert code == 2 and "broken.yaml" in out.replace(" ", "") and "expected" in out  # rich may wrap a long path
    code, out = invoke("--only", "no_such_scenario")
    assert code == 2 and "unknown scenario" in out and "control_quiet" in out


def test_an_occupied_output_folder_is_refused(env: Path) -> None:
    (env / "out").mkdir()
    (env / "out" / "report.md").write_text("last week's")
    code, out = invoke("--out", str(env / "out"), "--only", "control_quiet")
    assert code == 2 and "not empty" in out


def test_run_benchmark_refuses_llm_without_endpoint_and_zero_repeats(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, llm_base_url=None, llm_api_key=None)
    with pytest.raises(EvalError, match="--brain llm needs an LLM endpoint"):
        run_benchmark(load_dir(only=["control_quiet"]), tmp_path, brain="llm", base_settings=settings)
    with pytest.raises(EvalError, match="at least 1"):
        run_benchmark(load_dir(only=["control_quiet"]), tmp_path, repeat=0, base_settings=settings)


def test_an_unknown_model_is_a_message_that_lists_the_scenarios_models(env: Path) -> None:
    code, out = invoke("--model", "fraud")
    assert code == 2 and "no scenario of model fraud" in out and "churn, credit" in out
    assert not (env / "home" / "evals").exists()


def test_batch_and_held_out_choose_the_half_to_run_and_bad_values_are_messages(env: Path) -> None:
    from interfaces.cli.eval_cmd import _chosen

    found = load_dir()
    tuned = _chosen(found, [], False, ["step7"], "exclude")
    held = _chosen(found, [], False, ["step7"], "only")
    assert tuned and held and not {s.name for s in tuned} & {s.name for s in held}
    assert all(s.batch == "step7" and not s.holdout for s in tuned) and all(s.holdout for s in held)
    assert len(tuned) + len(held) == sum(s.batch == "step7" for s in found)
    code, out = invoke("--batch", "step99")
    assert code == 2 and "no scenario of batch step99" in out and "step7" in out
    code, out = invoke("--held-out", "maybe")
    assert code == 2 and "--held-out must be all, exclude or only" in out
