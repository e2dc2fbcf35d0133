"""The benchmark's three outputs: a table in the terminal (rich), a Markdown report with a verdict and the
reason for each miss per scenario, and a JSON file for tracking scores over time."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.console import Group as RichGroup
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from evals.groups import Group, data_set_groups
from evals.runner import BenchmarkResult
from evals.scenario_model import EvalScenario
from evals.scoring import CaseScore, Rate, ScenarioRun, Totals, Verdict, targets

MARK = {True: "✓", False: "✗", None: "·"}


def _cell(v: Verdict) -> str:
    return MARK[v.ok]


def _diag(run: ScenarioRun, detectable_from: int = 1) -> str:
    """The diagnosis the run was scored on (a ramped fault's early warnings come before it)."""
    t = run.concluding_detection(detectable_from) or next((t for t in run.ticks if t.detected), None)
    if t is None:
        return "quiet"
    return f"{t.category} → {t.action}" + (f" [{', '.join(t.culprit)}]" if t.culprit else "")


def _scenario(result: BenchmarkResult, name: str) -> EvalScenario:
    return next(s for s in result.scenarios if s.name == name)


def _title(result: BenchmarkResult, name: str) -> str:
    """The scenario's name, marked when it is held out."""
    return name + (" (held out)" if _scenario(result, name).holdout else "")


def groups(result: BenchmarkResult) -> list[Group]:
    return data_set_groups(result.scenarios, result.scores, result.runs)


def _fraction(rate: Rate) -> str:
    return f"{rate.hits}/{rate.of}" if rate.of else "-"


def _expected(result: BenchmarkResult, name: str) -> str:
    e = _scenario(result, name).expected
    if not e.detected:
        return "quiet"
    return f"{e.category} → {e.action}" + (f" [{', '.join(e.culprit)}]" if e.culprit else "")


VERDICT_KEY = "D F L C A E P"  # the terminal's one verdicts column: CaseScore.verdicts() order, then the post-mortem
VERDICT_LEGEND = ("D detection · F no false alarm · L localization · C root cause · A action · "
                  "E executed + verified · P post-mortem passes the rubric — ✓ right, ✗ missed, · does not apply")


def _marks(score: CaseScore) -> str:
    pm = None if score.postmortem is None else score.postmortem.ok
    return " ".join([*(MARK[v.ok] for v in score.verdicts().values()), MARK[pm]])


def _pm(score: CaseScore) -> str:
    """The post-mortem rubric's checks passed/applicable, or '-' where no incident was opened."""
    return "-" if score.postmortem is None else score.postmortem.text()


def print_table(result: BenchmarkResult, console: Console | None = None) -> None:
    """Per-scenario verdicts, then the totals against the targets.

    Made to read in an 80-column terminal: the six verdicts and the post-mortem's share one column under a
    letter key (one mark each), and each scenario's diagnosis goes on the line under its name, wrapped by
    words, instead of a column squeezed to one character. The Markdown report keeps a column per verdict
    and the post-mortem's checks passed/applicable."""
    console = console or Console()
    # No padding at the table's edges: the two columns it saves keep a diagnosis on one line beside seven marks.
    table = Table(title=f"opsagent eval — {result.brain} brain", caption=VERDICT_LEGEND, caption_justify="left",
                  pad_edge=False)
    table.add_column("scenario\n  diagnosed (first tick after the fault)", overflow="fold")
    table.add_column(VERDICT_KEY, no_wrap=True)
    table.add_column("TTD", justify="right", no_wrap=True)
    table.add_column("s", justify="right", no_wrap=True)
    several = len(result.templates) > 1
    for score, run in zip(result.scores, result.runs, strict=True):
        said = f"error: {score.error}" if score.error else _diag(
            run, _scenario(result, score.scenario).expected.detectable_from)
        if several:
            said = f"{_scenario(result, score.scenario).model_name} · {said}"
        what = RichGroup(Text(_title(result, score.scenario), style="bold"),
                         Padding(Text(said, style="dim"), (0, 0, 0, 2)))
        table.add_row(what, _marks(score), "-" if score.ttd_ticks is None else str(score.ttd_ticks),
                      f"{run.seconds:.0f}", style=None if score.passed else "red")
    console.print(table)
    print_groups(result, console)
    totals = Table(title="totals (✓ meets the target)")
    for col in ("score", "measured", "target", ""):
        totals.add_column(col)
    for tg in targets(result.totals):
        totals.add_row(tg.name, tg.measured, tg.target, MARK[tg.met])
    t = result.totals
    totals.add_row("executed + verified", t.executed.text(), "-", "")
    totals.add_row("post-mortems passing every check", t.postmortems.text(), "-", "")
    totals.add_row("scenarios passed", f"{t.passed}/{t.runs}", "-", "")
    totals.add_row("LLM tokens / cost", f"{t.tokens_in:,} in / {t.tokens_out:,} out, ${t.cost_usd:.4f}", "-", "")
    if t.llm_fallbacks:
        totals.add_row("LLM failed, offline policy decided", f"{t.llm_fallbacks} triage(s)", "-", "")
    totals.add_row("wall time", f"{t.wall_seconds:.0f} s", "-", "")
    console.print(totals)


def print_groups(result: BenchmarkResult, console: Console) -> None:
    """Scores per data set (held-out scenarios apart), when the run has more than one group."""
    found = groups(result)
    if len(found) < 2:
        return
    table = Table(title="per data set (hits/applicable)")
    for col in ("data set", "passed", "detect", "locate", "cause", "action", "exec", "FA"):
        table.add_column(col, no_wrap=col != "data set", overflow="fold")
    for g in found:
        t = g.totals
        table.add_row(g.label, f"{t.passed}/{t.runs}", _fraction(t.detection), _fraction(t.localization),
                      _fraction(t.root_cause), _fraction(t.mitigation), _fraction(t.executed),
                      str(t.false_alarms_controls + t.false_alarms_quiet_tick),
                      style="bold" if g.model is None else None)
    console.print(table)


def _group_lines(result: BenchmarkResult) -> list[str]:
    lines = ["## Per data set", "",
             "Held-out scenarios were written before any rule ran on them and are never tuned on; they are "
             "scored apart from their data set's other scenarios (`all` counts every run).", "",
             "| data set | scenarios passed | detection | false alarms | localization | root cause | mitigation "
             "| executed + verified | post-mortem checks |", "|---|---|---|---|---|---|---|---|---|"]
    for g in groups(result):
        t = g.totals
        lines.append(f"| {g.label} | {t.passed}/{t.runs} | {t.detection.text()} | "
                     f"{t.false_alarms_controls + t.false_alarms_quiet_tick} | {t.localization.text()} | "
                     f"{t.root_cause.text()} | {t.mitigation.text()} | {t.executed.text()} | "
                     f"{t.postmortem_checks.text()} |")
    return [*lines, ""]


def _champion_lines(result: BenchmarkResult) -> list[str]:
    return [f"- champion: {name} v{t.version}, trained once in {t.train_seconds:.0f} s "
            f"(test F1 {t.test_metrics.get('f1', 0):.3f}, AUC {t.test_metrics.get('auc', 0):.3f}); every "
            f"{name} world starts from a copy" for name, t in result.templates.items()]


def markdown(result: BenchmarkResult, command: str = "") -> str:
    """The Markdown report: what ran, the totals against the targets, per-scenario verdicts, each miss's reason."""
    t = result.totals
    when = datetime.fromtimestamp(result.started_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# opsagent incident benchmark — {result.brain} brain", "",
             f"- run: {when}, {len(result.scenarios)} scenario(s) × {result.repeat} repeat(s), "
             f"wall time {t.wall_seconds:.0f} s" + (f", command `{command}`" if command else ""),
             *_champion_lines(result),
             "- worlds: " + ("each scenario's world (service logs, post-mortems, MLflow) is kept at the path "
                             "under its verdict" if result.keep_worlds else
                             "not kept (--no-keep-worlds): each world folder, and the template this benchmark "
                             "trained, was deleted once its run was recorded"),
             f"- scenarios passed: {t.passed}/{t.runs}; errors: {t.errors}; LLM: {t.tokens_in:,} in / "
             f"{t.tokens_out:,} out tokens, ${t.cost_usd:.4f}"
             + (f"; the LLM failed and the offline policy decided in {t.llm_fallbacks} triage(s)"
                if t.llm_fallbacks else ""), "",
             "## Totals", "", "| score | measured | target | met |", "|---|---|---|---|"]
    for tg in targets(t):
        lines.append(f"| {tg.name} | {tg.measured} | {tg.target} | {MARK[tg.met]} |")
    lines += [f"| mitigation executed + verified (approved scenarios) | {t.executed.text()} | - | |",
              f"| post-mortems passing every rubric check | {t.postmortems.text()} | - | |", "",
              *_group_lines(result),
              "## Scenarios", "",
              "| scenario | model | kind | expected | diagnosed | detection | false alarm ok | localization "
              "| root cause | action | executed | post-mortem | TTD (ticks) | seconds |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s, r in zip(result.scores, result.runs, strict=True):
        lines.append(f"| {_title(result, s.scenario)} | {_scenario(result, s.scenario).model_name} | {s.kind} | "
                     f"{_expected(result, s.scenario)} | "
                     f"{_diag(r, _scenario(result, s.scenario).expected.detectable_from)} | "
                     f"{_cell(s.detection)} | {_cell(s.false_alarm)} | {_cell(s.localization)} | "
                     f"{_cell(s.root_cause)} | {_cell(s.mitigation)} | {_cell(s.executed)} | {_pm(s)} | "
                     f"{'-' if s.ttd_ticks is None else s.ttd_ticks} | {r.seconds:.0f} |")
    lines += ["", "✓ right, ✗ missed, · does not apply; post-mortem: rubric checks passed/applicable "
              "(`evals/postmortem_rubric.py`), - where no incident was opened.", "", "## Verdicts", ""]
    for s, r in zip(result.scores, result.runs, strict=True):
        scenario = _scenario(result, s.scenario)
        lines += [f"### {s.scenario} — {'pass' if s.passed else 'MISS'}" + (" (held out)" if scenario.holdout else ""),
                  "", f"{scenario.model_name}: {scenario.description.strip()}", ""]
        for miss in s.misses():
            lines.append(f"- **miss** — {miss}")
        for name, v in s.verdicts().items():
            if v.ok:
                lines.append(f"- {name}: {v.reason}")
        for tick in r.ticks:
            what = (f"{tick.category} → {tick.action} ({', '.join(tick.culprit) or '-'})" if tick.detected
                    else "quiet")
            found = f"; findings: {', '.join(tick.findings)}" if tick.findings else ""
            spent = (f", LLM {tick.tokens_in:,} in / {tick.tokens_out:,} out tokens, ${tick.cost_usd:.4f}"
                     if tick.tokens_in or tick.tokens_out else "")
            lines.append(f"- tick {tick.tick}: {what} — {tick.brain}, {tick.seconds:.0f} s{spent}{found}")
        lines += _postmortem_lines(s)
        if r.mitigation:
            m = r.mitigation
            lines.append(f"- approved {m.proposal_id}: {m.status}, verified {m.verified} — {m.outcome}")
        if r.world:
            lines.append(f"- world: `{r.world}`")
        lines.append("")
    return "\n".join(lines)


def _postmortem_lines(s: CaseScore) -> list[str]:
    """The post-mortem's rubric score and the reason of each failed check."""
    pm = s.postmortem
    if pm is None:
        return []
    return ([f"- post-mortem: {pm.text()} rubric checks passed" + ("" if pm.failures() else " (every check)")]
            + [f"- **post-mortem miss** — {why}" for why in pm.failures()])


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def as_json(result: BenchmarkResult, command: str = "") -> dict[str, Any]:
    """Everything, for tracking over time: totals, targets, and per run its scores and ticks."""
    def case(s: CaseScore, r: ScenarioRun) -> dict[str, Any]:
        scenario = _scenario(result, s.scenario)
        pm = s.postmortem
        return {"model": scenario.model_name, "holdout": scenario.holdout, "score": s.model_dump(mode="json"),
                "passed": s.passed, "misses": s.misses(), "run": r.model_dump(mode="json"),
                "postmortem": None if pm is None else {"passed": pm.passed, "applicable": pm.applicable,
                                                       "score": pm.score, "failures": pm.failures()}}

    def group(g: Group) -> dict[str, Any]:
        return {"label": g.label, "model": g.model, "holdout": g.holdout, "scenarios": g.scenarios,
                "totals": g.totals.model_dump(mode="json"), "rates": _rates(g.totals)}

    champions = {name: {"version": t.version, "test_metrics": t.test_metrics, "train_seconds": t.train_seconds}
                 for name, t in result.templates.items()}

    return {"benchmark": "opsagent-incidents", "brain": result.brain, "repeat": result.repeat,
            "keep_worlds": result.keep_worlds,
            "started_at": datetime.fromtimestamp(result.started_at, UTC).isoformat(), "command": command,
            "git_commit": _git_commit(), "python": platform.python_version(), "machine": platform.machine(),
            "champions": champions,  # by model name
            "totals": result.totals.model_dump(mode="json"),  # rates as hits/of
            "rates": _rates(result.totals),
            "by_data_set": [group(g) for g in groups(result)],  # per model, held-out apart, then all
            "targets": [tg.model_dump(mode="json") for tg in targets(result.totals)],
            "cases": [case(s, r) for s, r in zip(result.scores, result.runs, strict=True)]}


def _rates(t: Totals) -> dict[str, float | None]:
    return {k: getattr(t, k).value for k in ("detection", "localization", "root_cause", "mitigation", "executed",
                                             "postmortem_checks", "postmortems")}


def write_outputs(result: BenchmarkResult, out_dir: Path, command: str = "") -> tuple[Path, Path]:
    """Write report.md and results.json into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "report.md", out_dir / "results.json"
    md.write_text(markdown(result, command))
    js.write_text(json.dumps(as_json(result, command), indent=2))
    return md, js
