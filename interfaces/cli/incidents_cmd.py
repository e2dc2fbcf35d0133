"""`opsagent incidents list|show` — what triage found, and the post-mortems."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.table import Table

from interfaces.cli.common import JSON_HELP, console, load_settings, print_json

app = typer.Typer(help="Incidents opened by triage, with their post-mortems.", no_args_is_help=True)


def _store():  # type: ignore[no-untyped-def]
    from agent.incidents import IncidentStore

    settings = load_settings()
    return IncidentStore(settings.layout.ensure().approvals_store)


@app.command("list")
def list_(model: str | None = typer.Option(None, help="only this model's incidents"),
          limit: int = typer.Option(20, min=1, max=500, help="how many, newest first"),
          active: bool = typer.Option(False, "--active", help="only incidents still being watched (not resolved "
                                      "or closed)"),
          as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Incidents, newest first: status, how many scheduled ticks found each, and when one last did.
    --json: an array of incident records."""
    with _store() as store:
        found = store.list(model=model, limit=limit)
    if active:
        found = [i for i in found if i.is_active]
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no active incidents" if active else
                      "no incidents yet — `opsagent triage` opens one when it finds a problem")
        return
    table = Table(title="incidents")
    table.add_column("id", no_wrap=True)
    for col in ("opened", "model", "status", "ticks", "last seen", "category", "action", "proposal", "brain"):
        table.add_column(col, overflow="fold")
    for i in found:
        status = i.status + (f" ({i.clear_ticks} quiet)" if i.is_active and i.clear_ticks else "")
        table.add_row(i.id, _when(i.opened_at), i.model, status, str(i.ticks), _when(i.last_seen), i.category,
                      i.action, i.proposal_id or "-", i.brain)
    console.print(table)


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M") if at is not None else "-"


@app.command("show")
def show(incident_id: str = typer.Argument(..., help="incident id (a unique prefix is enough)"),
         as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The incident's post-mortem (Markdown), or its summary when none was written, and its MLflow trace.
    --json: the incident record (its post-mortem stays a file: ``postmortem_path``)."""
    from rich.markdown import Markdown

    from agent.tracing import trace_line

    with _store() as store:
        incident = store.get(incident_id)
    if as_json:
        print_json(incident)
        return
    path = Path(incident.postmortem_path) if incident.postmortem_path else None
    if path and path.exists():
        console.print(Markdown(path.read_text()))
        console.print(f"[dim]{path}[/]")
    else:
        console.print(f"{incident.id} [{incident.status}] {incident.category} → {incident.action}: {incident.summary}")
    console.print(f"Trace: {trace_line(load_settings(), incident.trace_id)}", markup=False, highlight=False)
    if incident.timeline:  # what the scheduled ticks added since the post-mortem was written
        console.print(f"[bold]{incident.status}[/], found by {incident.ticks} tick(s), last seen "
                      f"{_when(incident.last_seen)} UTC; latest: {incident.figures or '-'}")
        for e in incident.timeline[-10:]:
            console.print(f"  {_when(e['at'])}  {e['event']}", markup=False, highlight=False)
