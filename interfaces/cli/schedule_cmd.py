"""`opsagent schedule list|add|remove|run-now` — scheduled triage of watched models (APScheduler job store)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from interfaces.cli.agent_common import whoami
from interfaces.cli.common import JSON_HELP, UserError, console, err_console, load_settings, print_json

app = typer.Typer(help="Scheduled triage: watch models on an interval or a cron expression. The schedules run "
                  "inside `opsagent serve`; they are kept in OPSAGENT_HOME/schedules.db.", no_args_is_help=True)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@app.command("add")
def add(model: str = typer.Argument(..., help="registered model to watch"),
        every: float | None = typer.Option(None, "--every", help="run every MINUTES"),
        cron: str | None = typer.Option(None, "--cron", help="five-field cron expression, e.g. '*/15 * * * *'")
        ) -> None:
    """Watch MODEL: triage it every N minutes or on a cron expression (replaces its previous schedule).

    Example: opsagent schedule add credit --every 15"""
    from interfaces.scheduler import ScheduleError, make_trigger, schedule_store

    settings = load_settings()
    try:
        make_trigger(every, cron)  # validate before touching the store
        with schedule_store(settings) as sched:
            job = sched.add(model, every_minutes=every, cron=cron)
            next_run = job.next_run_time
    except ScheduleError as exc:
        raise UserError(str(exc)) from exc
    console.print(f"scheduled triage of [bold]{model}[/] {job.name}; next run {next_run:%Y-%m-%d %H:%M:%S %Z}")
    console.print("  it runs while `opsagent serve` is running (a running one picks it up within "
                  "OPSAGENT_SCHEDULE_POLL_S); `opsagent schedule run-now` runs one now")
    _warn_if_unregistered(settings, model)


def _warn_if_unregistered(settings, model: str) -> None:
    known = settings.open_registry().models()
    if model not in known:
        err_console.print(f"[yellow]note:[/] no registered model '{model}' yet; its runs will fail until you "
                          f"train it (`opsagent train`)")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Watched models: trigger, next run and last result. --json: an array of {model, trigger, next_run (ISO
    8601, null when paused), last (the last run record, or null)}."""
    from interfaces.scheduler import ScheduleError, schedule_store

    try:
        with schedule_store(load_settings()) as sched:
            entries = sched.entries()
    except ScheduleError as exc:
        raise UserError(str(exc)) from exc
    if as_json:
        print_json(entries)
        return
    if not entries:
        console.print("no scheduled triage; add one with `opsagent schedule add MODEL --every 15`")
        return
    table = Table("model", "trigger", "next run", "last result")
    for e in entries:
        last = "never ran"
        if e.last:
            what = e.last.incident_id or e.last.detail
            last = f"{_when(e.last.finished_at)} {e.last.status}: {what}"
        table.add_row(e.model, e.trigger, f"{e.next_run:%Y-%m-%d %H:%M:%S %Z}" if e.next_run else "paused", last)
    console.print(table)


@app.command("remove")
def remove(model: str = typer.Argument(..., help="model whose schedule to remove")) -> None:
    """Stop watching MODEL (its past runs stay in the log)."""
    from interfaces.scheduler import ScheduleError, schedule_store

    try:
        with schedule_store(load_settings()) as sched:
            sched.remove(model)
    except ScheduleError as exc:
        raise UserError(str(exc)) from exc
    console.print(f"removed the schedule of [bold]{model}[/]")


@app.command("run-now")
def run_now(model: str = typer.Argument(..., help="registered model to triage")) -> None:
    """Run one scheduled-style triage of MODEL now, in the foreground, and record it in the run log."""
    from agent.context import OpsContext
    from interfaces.scheduler import run_triage

    settings = load_settings()
    known = settings.open_registry().models()
    if model not in known:
        raise UserError(f"no registered model '{model}'; registered: "
                        f"{', '.join(known) or 'none yet (run `opsagent train`)'}")
    console.rule(f"[bold]triage of {model}")
    ctx = OpsContext(settings, via="cli", actor=whoami(), progress=lambda m: console.print(f"  [dim]›[/] {m}"))
    r = run_triage(ctx, model)
    if r.status == "failed":
        err_console.print(f"[bold red]triage failed:[/] {r.detail}")
        raise typer.Exit(code=1)
    colour = "red" if r.status == "incident" else "green"
    console.print(f"[{colour}]{'INCIDENT' if r.status == 'incident' else 'OK'}[/] {r.incident_id} "
                  f"in {r.finished_at - r.started_at:.1f} s")
    console.print(f"  {r.detail}")
    if r.postmortem:
        console.print(f"  post-mortem: {r.postmortem}")
    if r.proposal_id:
        console.print(f"  proposal {r.proposal_id} waits for approval: `opsagent approvals show {r.proposal_id}`")
