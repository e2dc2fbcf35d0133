"""`--keep-worlds/--no-keep-worlds`: worlds stay by default; without them only the report and results remain.

Cheap on purpose: the template is an untrained home, so each world is made (copied, MLflow opened) and its
deploy fails at once, a recorded miss, which is all keeping or deleting a world needs."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from agent.settings import Settings
from evals.report import as_json, markdown, write_outputs
from evals.runner import ScenarioRunner, run_benchmark
from evals.scenario_model import EvalScenario, load_dir
from evals.world import Template
from interfaces.cli.eval_cmd import eval_


@pytest.fixture
def untrained(tmp_path: Path) -> tuple[Template, EvalScenario, Settings]:
    home = tmp_path / "template"
    home.mkdir()
    (home / "marker.txt").write_text("copied into every world")
    template = Template(home=home, version="1", test_metrics={}, train_seconds=0.0)
    settings = Settings(home=tmp_path, llm_base_url=None, llm_api_key=None)
    return template, load_dir(only=["control_quiet"])[0], settings


def test_worlds_are_kept_by_default(tmp_path: Path, untrained: tuple[Template, EvalScenario, Settings]) -> None:
    template, scenario, settings = untrained
    run = ScenarioRunner({"churn": template}, tmp_path / "worlds", "offline", base_settings=settings)(scenario)
    assert run.error and "no version 1" in run.error  # the world failed to deploy: a miss, not an exception
    assert run.world and (Path(run.world) / "marker.txt").is_file()


def test_no_keep_worlds_deletes_each_world_and_the_report_says_so(
        tmp_path: Path, untrained: tuple[Template, EvalScenario, Settings]) -> None:
    template, scenario, settings = untrained
    out = tmp_path / "out"
    seen: list[str] = []
    result = run_benchmark([scenario], out, base_settings=settings, templates={"churn": template}, keep_worlds=False,
                           show_progress_bar=False, progress=seen.append)
    (run,) = result.runs
    assert run.error and run.world is None
    assert any("control_quiet: failed" in m for m in seen)  # the world was made and ran before it went
    assert not (out / "worlds").exists()
    assert (template.home / "marker.txt").is_file()  # a template the caller gave is the caller's to keep
    md, js = write_outputs(result, out)
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "results.json"]
    report = md.read_text()
    assert "worlds: not kept (--no-keep-worlds)" in report and "- world: `" not in report
    assert as_json(result)["keep_worlds"] is False and '"world": null' in js.read_text()

    kept = run_benchmark([scenario], tmp_path / "kept", base_settings=settings, templates={"churn": template},
                         show_progress_bar=False)
    assert kept.keep_worlds and "- world: `" in markdown(kept) and "is kept at the path" in markdown(kept)


def test_the_cli_offers_both_spellings() -> None:
    app = typer.Typer()
    app.command("eval")(eval_)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["eval", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--keep-worlds" in result.output and "--no-keep-worlds" in result.output
