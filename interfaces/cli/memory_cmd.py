"""`opsagent memory search` — recall past runs, incidents and outcomes by meaning."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from interfaces.cli.common import UserError, console, load_settings

app = typer.Typer(help="The agent's memory (ChromaDB in OPSAGENT_HOME/memory, embeddings computed offline).",
                  no_args_is_help=True)
KINDS = ("training_run", "incident", "postmortem", "decision", "outcome")


@app.command("search")
def search(query: str = typer.Argument(..., help="what to look for, in plain words"),
           k: int = typer.Option(5, "-k", min=1, max=50, help="how many memories to show"),
           model: str | None = typer.Option(None, help="only memories about this model"),
           kind: str | None = typer.Option(None, help=f"only this kind: {', '.join(KINDS)}")) -> None:
    """Find the memories closest in meaning to QUERY."""

    if kind is not None and kind not in KINDS:
        raise UserError(f"--kind must be one of {', '.join(KINDS)}, not '{kind}'")
    if not query.strip():
        raise UserError("the query is empty: say what to look for, e.g. 'latency after a release'")
    settings = load_settings()
    with console.status("searching memory…"):
        hits = settings.open_memory().search(query, k=k, model=model, kind=kind)  # type: ignore[arg-type]
    if not hits:
        console.print("no memories match yet — they are written by `opsagent train` and `opsagent demo`")
        return
    table = Table(title=f"memories like “{query}”")
    for col in ("similarity", "kind", "model", "when", "text", "id"):
        table.add_column(col)
    for h in hits:
        when = datetime.fromtimestamp(h.created_at, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(f"{h.similarity:.2f}", h.kind, h.model, when, h.text, h.id)
    console.print(table)
