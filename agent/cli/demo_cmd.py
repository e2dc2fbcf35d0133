"""`opsagent demo` — renders agent.demo with rich progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.cli.common import console, load_settings
from agent.demo import Narrator


class RichNarrator(Narrator):
    def step(self, title: str) -> None:
        console.rule(f"[bold]{title}")

    def info(self, message: str) -> None:
        console.print(f"  {message}")

    def check(self, watched) -> None:
        r = watched.result
        colour = {"ok": "green", "info": "cyan", "warning": "yellow", "critical": "red"}.get(r.status, "")
        console.print(f"  [{colour}]{r.status.upper()}[/] {r.summary}")
        for f in r.findings:
            console.print(f"    - [{colour}]{f.kind}[/] {f.subject}: {f.message}")
        if watched.report:
            console.print(f"  report: {watched.report.html}")

    def _bar(self, label: str, total: int) -> tuple[Progress, TaskID]:
        bar = Progress(TextColumn(f"  {label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                       TimeElapsedColumn(), console=console, transient=True)
        task = bar.add_task(label, total=total, info="")
        bar.start()
        return bar, task

    def progress(self, label: str, total: int) -> Callable[[int, int], None]:
        bar, task = self._bar(label, total)

        def update(done: int, _total: int) -> None:
            bar.update(task, completed=done)
            if done >= total:
                bar.stop()
        return update

    def epochs(self, label: str, total: int):
        bar, task = self._bar(label, total)

        def update(epoch: int, _total: int, row: dict[str, float]) -> None:
            bar.update(task, completed=epoch, info=f"val AUC {row['val_auc']:.3f}")
            if epoch >= total or row.get("stopped"):
                bar.stop()
        return update


def demo(
    home: Path | None = typer.Option(None, help="where to keep the demo's state (default OPSAGENT_HOME)"),
    epochs: int = typer.Option(40, min=1, help="maximum training epochs"),
    requests: int = typer.Option(100, min=20, help="requests per traffic phase (10 customers each)"),
    keep_serving: bool = typer.Option(False, help="leave the service running at the end"),
) -> None:
    """The main job, offline: train, deploy, drift, detect, retrain, gate, canary, promote."""
    from ml_core.paths import HomeLayout

    settings = load_settings()
    layout = HomeLayout(home.expanduser().resolve()) if home else settings.layout
    console.print(f"[bold]opsagent demo[/] — state in {layout.home}")
    result = run(layout, epochs, requests, keep_serving, settings.model_name)
    table = Table(title=f"demo finished in {result.seconds:.0f}s", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("drift detected in", ", ".join(result.detected) or "nothing")
    table.add_row("retrained", f"v{result.retrain_version} (gate {'passed' if result.gate_passed else 'failed'})")
    table.add_row("champion", f"v{result.champion_before} → v{result.champion_after}" if result.promoted
                  else f"v{result.champion_after}")
    for key, value in result.artifacts.items():
        table.add_row(key, value)
    console.print(table)
    console.print(f"inspect: OPSAGENT_HOME={layout.home} opsagent registry list")


def run(layout, epochs: int, requests: int, keep_serving: bool, model_name: str):
    from agent.demo import run_demo

    return run_demo(layout, RichNarrator(), model_name=model_name, epochs=epochs, requests=requests,
                    keep_serving=keep_serving)
