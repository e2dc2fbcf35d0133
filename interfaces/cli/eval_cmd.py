"""`opsagent eval` — the ML-ops incident benchmark: scenarios as data, scheduled triage, AIOpsLab scores."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from interfaces.cli.common import JSON_HELP, console, err_console, fail, load_settings, print_json

if TYPE_CHECKING:
    from evals.scenario_model import EvalScenario


def _chosen(found: list[EvalScenario], models: list[str], fast: bool, batches: list[str] | None = None,
            held_out: str = "all") -> list[EvalScenario]:
    """The scenarios of the ``--model`` data sets and ``--batch`` batches (all when none given), only the fast ones
    with ``--fast``, only the tuned-on or held-out half with ``--held-out exclude|only``."""
    if batches:
        known = sorted({s.batch for s in found})
        if unknown := [b for b in batches if b not in known]:
            raise fail(f"no scenario of batch {', '.join(unknown)} in that folder; its batches: {', '.join(known)}")
        found = [s for s in found if s.batch in batches]
    if held_out not in ("all", "exclude", "only"):
        raise fail(f"--held-out must be all, exclude or only, not '{held_out}'")
    if held_out != "all":
        found = [s for s in found if s.holdout is (held_out == "only")]
        if not found:
            raise fail(f"no {'held-out' if held_out == 'only' else 'tuned-on'} scenario left to run")
    if models:
        known = sorted({s.model_name for s in found})
        if unknown := [m for m in models if m not in known]:
            raise fail(f"no scenario of model {', '.join(unknown)} in that folder; its models: {', '.join(known)}")
        found = [s for s in found if s.model_name in models]
    if fast:
        found = [s for s in found if s.fast]
        if not found:
            raise fail("no scenario in that folder is marked fast: true" + (" for that model" if models else ""))
    return found


def eval_(
    scenarios: Path | None = typer.Option(None, "--scenarios", help="folder of scenario YAML files (default: the "
                                          "benchmark's own, evals/scenarios)"),
    brain: str = typer.Option("offline", help="offline (the policy; always available) or llm (the configured "
                              "OpenAI-compatible endpoint)"),
    repeat: int = typer.Option(1, min=1, max=20, help="run each scenario this many times"),
    out: Path | None = typer.Option(None, help="where report.md, results.json and the worlds go "
                                    "(default OPSAGENT_HOME/evals/<timestamp>)"),
    only: list[str] | None = typer.Option(None, "--only", help="run only these scenarios (repeatable)"),
    fast: bool = typer.Option(False, "--fast", help="run only the scenarios marked fast: true (the CI subset)"),
    model: list[str] | None = typer.Option(None, "--model", help="run only the scenarios of this data set / model "
                                           "(churn, credit, or a spec's name; repeatable; default: all)"),
    batch: list[str] | None = typer.Option(None, "--batch", help="run only the scenarios of this batch (original, "
                                           "step6, step7; repeatable; default: all)"),
    held_out: str = typer.Option("all", "--held-out", help="all, exclude (the half rules may be tuned on: use it "
                                 "while developing) or only (the untouched half, once the rules are done)"),
    epochs: int = typer.Option(30, min=1, max=500, help="training epochs of the champion shared by all worlds"),
    keep_worlds: bool = typer.Option(True, "--keep-worlds/--no-keep-worlds", help="keep each scenario's world "
                                     "(service logs, post-mortems, MLflow) under --out; --no-keep-worlds deletes "
                                     "each one after its run, keeping report.md and results.json"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP + "; the same object as results.json"),
) -> None:
    """Score the agent on ML incidents: each scenario builds a world (champion, service, traffic with the
    fault), scheduled triage runs tick by tick, approvals go through where the scenario says so, and the
    runs are scored for detection, localization, root cause, mitigation, false alarms and time to detect,
    per data set (one champion per model; held-out scenarios reported apart) and overall.

    Examples:

      opsagent eval                         # every scenario, churn and credit

      opsagent eval --model credit --out /tmp/credit-eval

      opsagent eval --fast --no-keep-worlds

      opsagent eval --batch step7 --held-out exclude   # while changing rules: never look at the held-out half
    """
    from evals.report import as_json as results_json
    from evals.report import print_table, write_outputs
    from evals.runner import EvalError, run_benchmark
    from evals.scenario_model import ScenarioFileError, load_dir

    if brain not in ("offline", "llm"):
        raise fail(f"--brain must be offline or llm, not '{brain}'")
    chosen: Literal["offline", "llm"] = "llm" if brain == "llm" else "offline"
    settings = load_settings()
    if chosen == "llm" and not settings.llm_configured:
        raise fail("--brain llm needs an LLM endpoint: set OPSAGENT_LLM_BASE_URL (vLLM, Ollama, llama.cpp) or "
                   "OPSAGENT_LLM_API_KEY, or run with --brain offline")
    try:
        found = load_dir(scenarios.expanduser() if scenarios else None, only=list(only) if only else None)
    except ScenarioFileError as exc:
        raise fail(str(exc)) from exc
    found = _chosen(found, list(model or []), fast, list(batch or []), held_out)
    out_dir = (out.expanduser() if out else
               settings.layout.home / "evals" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    if out_dir.exists() and any(out_dir.iterdir()):
        raise fail(f"{out_dir} is not empty; give --out a new folder")
    say = err_console if as_json else console  # with --json, stdout holds the JSON alone
    say.print(f"[bold]opsagent eval[/] — {len(found)} scenario(s) × {repeat}, {chosen} brain; output in {out_dir}")
    try:
        result = run_benchmark(found, out_dir, brain=chosen, repeat=repeat, epochs=epochs, base_settings=settings,
                               progress=lambda m: say.print(f"  [dim]›[/] {m}"), keep_worlds=keep_worlds,
                               show_progress_bar=not as_json)
    except EvalError as exc:
        raise fail(str(exc)) from exc
    command = shlex.join(["opsagent", "eval", *sys.argv[2:]]) if len(sys.argv) > 1 and sys.argv[1] == "eval" else ""
    md, js = write_outputs(result, out_dir, command)
    if as_json:
        print_json(results_json(result, command))
    else:
        print_table(result, console)
    say.print(f"report: {md}\nresults: {js}" + ("" if keep_worlds else "\nworlds: not kept (--no-keep-worlds)"))
