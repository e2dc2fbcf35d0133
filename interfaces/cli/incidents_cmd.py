"""`opsagent incidents list|show` — what triage found, and the post-mortems."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markdown import Markdown
from rich.table import Table

from interfaces.cli.common import console, load_settings

app = typer.Typer(help="Incidents opened by triage, with their post-mortems.", no_args_is_help=True)


def _store():  # type: ignore[no-untyped-def]
    from agent.incidents import IncidentStore

    settings = load_settings()
    return IncidentStore(settings.layout.ensure().approvals_db)


@app.command("list")
def list_(model: str | None = typer.Option(None, help="only this model's incidents"),
          limit: int = typer.Option(20, min=1, max=500, help="how many, newest first")) -> None:
    """Incidents, newest first."""
    with _store() as store:
        found = store.list(model=model, limit=limit)
    if not found:
        console.print("no incidents yet — `opsagent triage` opens one when it finds a problem")
        return
    table = Table(title="incidents")
    table.add_column("id", no_wrap=True)
    for col in ("opened", "model", "status", "category", "action", "proposal", "brain"):
        table.add_column(col, overflow="fold")
    for i in found:
        table.add_row(i.id, datetime.fromtimestamp(i.opened_at, UTC).strftime("%Y-%m-%d %H:%M"), i.model, i.status,
                      i.category, i.action, i.proposal_id or "-", i.brain)
    console.print(table)


@app.command("show")
def show(incident_id: str = typer.Argument(..., help="incident id (a unique prefix is enough)")) -> None:
    """The incident's post-mortem (Markdown), or its summary when none was written."""
    with _store() as store:
        incident = store.get(incident_id)
    path = Path(incident.postmortem_path) if incident.postmortem_path else None
    if path and path.exists():
        console.print(Markdown(path.read_text()))
        console.print(f"[dim]{path}[/]")
    else:
        console.print(f"{incident.id} [{incident.status}] {incident.category} → {incident.action}: {incident.summary}")
