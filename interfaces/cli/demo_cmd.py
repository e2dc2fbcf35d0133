"""`opsagent demo` — renders interfaces.demo with rich progress bars, each closed when its work ends."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from interfaces.cli.common import console, load_settings
from interfaces.cli.progress import count_bar, epoch_bar
from interfaces.demo.narrator import Narrator

if TYPE_CHECKING:
    from ml_core.training import EpochCallback


class RichNarrator(Narrator):
    def step(self, title: str) -> None:
        console.rule(f"[bold]{title}")

    def info(self, message: str) -> None:
        console.print(f"  {message}")

    def progress(self, label: str, total: int) -> AbstractContextManager[Callable[[int, int], None]]:
        return count_bar(f"  {label}", total, console)

    def epochs(self, label: str, total: int) -> AbstractContextManager[EpochCallback]:
        return epoch_bar(f"  {label}", total, console)


def interactive_approver(proposal_id: str):  # type: ignore[no-untyped-def]
    """Show the proposal and ask the person at the terminal: accept, edit, respond or reject."""
    import time

    from rich.markdown import Markdown

    from agent.context import OpsContext
    from agent.proposals import Accept, Edit, Ignore, Respond
    from agent.reports.render import render_proposal
    from interfaces.cli.agent_common import whoami
    from interfaces.cli.approvals_cmd import parse_assignments

    record = OpsContext(load_settings()).approvals.get(proposal_id)
    console.print(Markdown(render_proposal(record.proposal, status=record.status)))
    while True:
        choice = typer.prompt("accept, edit, respond or reject?", default="accept").strip().lower()
        if choice in ("a", "accept", "approve", "y", "yes"):
            return Accept(by=whoami(), via="cli")
        if choice in ("r", "reject", "n", "no", "ignore"):
            return Ignore(args=typer.prompt("reason", default="") or None, by=whoami(), via="cli")
        if choice in ("e", "edit"):
            pairs = typer.prompt("fields to change (e.g. epochs=20 window_minutes=30)").split()
            try:
                return Edit(args=parse_assignments(pairs, time.time()), by=whoami(), via="cli")
            except Exception as exc:
                console.print(f"[red]{exc}[/]")
                continue
        if choice in ("respond", "response", "s"):
            text = typer.prompt("your message to the agent").strip()
            if text:
                return Respond(args=text, by=whoami(), via="cli")
            console.print("[red]a response needs some text[/]")
            continue
        console.print("answer accept, edit, respond or reject")


def demo(
    home: Path | None = typer.Option(None, help="where to keep the demo's state (default OPSAGENT_HOME)"),
    epochs: int = typer.Option(40, min=1, help="maximum training epochs"),
    requests: int = typer.Option(100, min=20, help="requests per traffic phase (10 customers each)"),
    keep_serving: bool = typer.Option(False, help="leave the service running at the end"),
    interactive: bool = typer.Option(False, "--interactive", "-i",
                                     help="wait for your answer to the proposal instead of approving it for you"),
    timings: Path | None = typer.Option(None, help="also write when each step started, the total and the drift "
                                        "onset → promoted seconds to this JSON file (python -m evals.bench_demo)"),
) -> None:
    """The main job, offline: train and deploy churn v1, drift appears, scheduled triage detects it, recalls
    memory, writes a post-mortem and a retrain proposal; the proposal is approved (by you with --interactive);
    retrain, gate, 10 % canary, promote; the outcome is remembered."""
    import os

    from ml_core.paths import HomeLayout

    settings = load_settings()
    layout = HomeLayout(home.expanduser().resolve()) if home else settings.layout
    if home:
        os.environ["OPSAGENT_HOME"] = str(layout.home)  # the interactive approver reads the same home
    console.print(f"[bold]opsagent demo[/] — state in {layout.home}")
    result = run(layout, settings, epochs, requests, keep_serving, interactive)
    table = Table(title=f"demo finished in {result.seconds:.0f}s", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("drift detected in", ", ".join(result.detected) or "nothing")
    table.add_row("incident", f"{result.incident_id or '-'} (diagnosed by {result.brain})")
    table.add_row("proposal", f"{result.proposal_id or '-'} — {result.decision}")
    table.add_row("retrained", f"v{result.retrain_version} (gate {'passed' if result.gate_passed else 'failed'})"
                  if result.retrain_version else "-")
    table.add_row("champion", f"v{result.champion_before} → v{result.champion_after}" if result.promoted
                  else f"v{result.champion_after}")
    table.add_row("outcome", result.outcome)
    if result.seconds_drift_to_promoted:
        table.add_row("drift onset → promoted", f"{result.seconds_drift_to_promoted:.0f}s")
    for key, value in result.artifacts.items():
        table.add_row(key, value)
    console.print(table)
    console.print(f"next: OPSAGENT_HOME={layout.home} opsagent incidents list | opsagent approvals list --all "
                  "| opsagent chat")
    if timings is not None:
        write_timings(timings.expanduser(), result)


def write_timings(path: Path, result) -> None:  # type: ignore[no-untyped-def]
    """The demo's timings as JSON: total, drift onset → promoted, promoted, and each step's start."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "total_s": round(result.seconds, 3), "drift_to_promoted_s": result.seconds_drift_to_promoted,
        "promoted": result.promoted, "outcome": result.outcome,
        "steps": [{"title": title, "start_s": at} for title, at in result.steps]}, indent=2))
    console.print(f"timings: {path}")


def run(layout, settings, epochs: int, requests: int, keep_serving: bool, interactive: bool = False):  # type: ignore[no-untyped-def]
    from interfaces.demo.story import auto_approve, run_demo

    return run_demo(layout, RichNarrator(), settings=settings, model_name="churn", epochs=epochs,
                    requests=requests, keep_serving=keep_serving,
                    approver=interactive_approver if interactive else auto_approve)
