"""`opsagent doctor` — which store each component uses (SQLite or PostgreSQL, Chroma embedded or a server, the
MLflow tracking URI) and whether each answers."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from interfaces.cli.common import console, load_settings

MARKS = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}


def doctor(as_json: bool = typer.Option(False, "--json", help="print the checks as JSON, for scripts")) -> None:
    """Check the stores the settings name: what each component uses and whether it answers.

    Exit code 1 when a store does not answer (0 with warnings). Only reads: safe against the team's stores."""
    from agent.store_check import check_stores

    checks = check_stores(load_settings())
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        table = Table(title="opsagent stores")
        for column in ("component", "store", "where", "status", "detail"):
            table.add_column(column, overflow="fold")
        for c in checks:
            table.add_row(c.component, c.kind, c.where, MARKS[c.status], c.detail)
        console.print(table)
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)
