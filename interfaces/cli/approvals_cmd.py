"""`opsagent approvals list|show|approve|edit|respond|reject|resume|abandon` — the approvals inbox in the terminal."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import typer
from rich.table import Table

from interfaces.cli.agent_common import agent_runner, whoami
from interfaces.cli.common import JSON_HELP, UserError, console, err_console, load_settings, print_json

app = typer.Typer(help="Proposals waiting for a human answer, and what happened to past ones. Answers follow the "
                       "Agent-Inbox contract: accept (approve), edit (change fields, then run), respond "
                       "(text back to the agent, which revises), ignore (reject).", no_args_is_help=True)


def _store():  # type: ignore[no-untyped-def]
    """The inbox alone: listing and showing need no graphs (and start fast)."""
    from agent.context import OpsContext

    return OpsContext(load_settings(), via="cli", actor=whoami()).approvals


TIME_KEYS = frozenset({"window_since", "window_until", "expires_at", "created_at", "at"})  # unix seconds in details


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def readable(detail: Any) -> Any:
    """An audit detail or a set of changes with its unix times as UTC dates (people read these tables)."""
    if isinstance(detail, dict):
        return {k: (_when(v) if k in TIME_KEYS and isinstance(v, int | float) and not isinstance(v, bool)
                    else readable(v)) for k, v in detail.items()}
    if isinstance(detail, list):
        return [readable(v) for v in detail]
    return detail


@app.command("list")
def list_(all_: bool = typer.Option(False, "--all", help="also answered, expired and executed proposals"),
          model: str | None = typer.Option(None, help="only this model's proposals"),
          as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Pending proposals (newest first); expired ones are marked expired as they are listed.
    --json: an array of proposal records (the proposal, its status, who decided and the outcome)."""
    store = _store()
    store.expire_due(store.clock(), via="cli")
    records = store.list(model=model) if all_ else store.list(status="pending", model=model)
    say = err_console if as_json else console  # with --json, stdout holds the JSON alone
    for r in store.stranded() + store.list(status="interrupted", model=model):
        if model in (None, r.proposal.model):
            say.print(f"[yellow]{r.id} is {r.status}[/] but no process is running it (it stopped mid-way): "
                      f"`opsagent approvals resume {r.id}` goes on from its last step, "
                      f"`opsagent approvals abandon {r.id}` gives it up")
    if as_json:
        print_json(records)
        return
    if not records:
        console.print("no pending proposals" + ("" if all_ else " (use --all for answered ones)"))
        return
    table = Table(title="approvals inbox")
    table.add_column("id", no_wrap=True)
    for col in ("status", "kind", "model", "title", "filed", "expires", "source"):
        table.add_column(col, overflow="fold")
    for r in records:
        p = r.proposal
        table.add_row(p.id, r.status, p.kind, p.model, p.title, _when(r.created_at), _when(p.expires_at), r.source)
    console.print(table)


@app.command("show")
def show(proposal_id: str = typer.Argument(..., help="proposal id (a unique prefix is enough)"),
         as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The proposal in full: evidence, editable fields, cost, rollback plan, and its audit trail.
    --json: {"record": the proposal record, "audit": its audit entries, oldest first}."""
    from rich.markdown import Markdown

    from agent.reports.render import render_proposal

    store = _store()
    record = store.get(proposal_id)
    trail = store.audit.entries(proposal_id=record.proposal.id)
    if as_json:
        print_json({"record": record, "audit": trail})
        return
    console.print(Markdown(render_proposal(record.proposal, status=record.status)))
    if record.outcome:
        console.print(f"[bold]outcome:[/] {record.outcome}")
    table = Table(title="audit trail")
    for col in ("when", "event", "who", "via", "detail"):
        table.add_column(col)
    for e in trail:
        table.add_row(_when(e.at), e.event, e.actor, e.via, json.dumps(readable(e.detail))[:120])
    console.print(table)


def _answer(proposal_id: str, kind: str, args: Any) -> None:
    from agent.proposals import AnswerError, ProposalEditError, parse_response

    with agent_runner() as runner:
        record = runner.ctx.approvals.get(proposal_id)
        console.rule(f"[bold]{kind} {record.proposal.id}: {record.proposal.title}")
        try:
            response = parse_response({"type": kind, "args": args, "by": whoami(), "via": "cli"})
            out = runner.answer(record.proposal.id, response)
        except (AnswerError, ProposalEditError) as exc:
            raise UserError(str(exc)) from exc
    colour = {"executed": "green", "pending": "yellow"}.get(out.status, "red")
    console.print(f"[{colour}]{out.status}[/]: {out.outcome}")
    for c in out.comments[-1:]:
        console.print(f"  {c}")
    if out.status == "executed":
        console.print(f"  verified: {'yes' if out.verified else 'no'}")


@app.command("approve")
def approve(proposal_id: str = typer.Argument(..., help="proposal id (a unique prefix is enough)"),
            yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation")) -> None:
    """Accept the proposal and run it now (retrain → gate → canary → promote or roll back, etc.)."""
    if not yes and not typer.confirm(f"execute proposal {proposal_id}?"):
        raise typer.Exit(1)
    _answer(proposal_id, "accept", None)


def parse_assignments(pairs: list[str], now: float) -> dict[str, Any]:
    """`field=value` pairs → typed changes; `window_minutes=30` sets the data window to the last 30 minutes."""
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"'{pair}' is not field=value (e.g. epochs=20)")
        key, raw = key.strip(), raw.strip()
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        if key in ("window_since", "window_until") and isinstance(value, str):
            from agent.reports.render import parse_utc

            try:
                changes[key] = parse_utc(value)
            except ValueError as exc:
                raise UserError(f"{key}: {exc}") from exc
        elif key == "window_minutes":
            if not isinstance(value, int | float) or value <= 0:
                raise UserError("window_minutes must be a positive number")
            changes.update(window_since=now - float(value) * 60, window_until=now)
        else:
            changes[key] = value
    return changes


@app.command("edit")
def edit(proposal_id: str = typer.Argument(..., help="proposal id (a unique prefix is enough)"),
         changes: list[str] = typer.Argument(..., help="field=value pairs, e.g. epochs=20 window_minutes=30"),
         yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation")) -> None:
    """Change fields of the proposal and run it (an edit is an approval of the edited proposal).
    `opsagent approvals show ID` lists the editable fields."""
    parsed = parse_assignments(changes, time.time())
    if not yes and not typer.confirm(f"execute proposal {proposal_id} with {readable(parsed)}?"):
        raise typer.Exit(1)
    _answer(proposal_id, "edit", parsed)


@app.command("respond")
def respond(proposal_id: str = typer.Argument(..., help="proposal id (a unique prefix is enough)"),
            text: str = typer.Argument(..., help="what to tell the agent, e.g. 'use the last 30 minutes'")) -> None:
    """Write back to the agent; it revises the proposal and asks again (nothing is executed)."""
    if not text.strip():
        raise UserError("the response is empty")
    _answer(proposal_id, "response", text)


@app.command("reject")
def reject(proposal_id: str = typer.Argument(..., help="proposal id (a unique prefix is enough)"),
           reason: str = typer.Option("", "--reason", "-r", help="why; kept in the audit log and memory")) -> None:
    """Reject (Agent-Inbox 'ignore') the proposal: nothing is executed, the decision is remembered."""
    _answer(proposal_id, "ignore", reason or None)


@app.command("resume")
def resume(proposal_id: str = typer.Argument(..., help="proposal id (a unique prefix is enough)")) -> None:
    """Take over a proposal whose process died while it ran (left accepted or executing), or retry an
    interrupted one: it goes on from its last checkpointed step, never repeating a finished one (one registered
    version, one routing change). `opsagent serve` does this by itself on start."""
    with agent_runner() as runner:
        record = runner.ctx.approvals.get(proposal_id)
        console.rule(f"[bold]resume {record.proposal.id}: {record.proposal.title}")
        out = runner.resume(record.proposal.id, by=whoami(), via="cli")
    colour = {"executed": "green"}.get(out.status, "red")
    console.print(f"[{colour}]{out.status}[/]: {out.outcome}")
    if out.status == "executed":
        console.print(f"  verified: {'yes' if out.verified else 'no'}")
    if out.status not in ("executed", "pending"):
        raise typer.Exit(1)


@app.command("abandon")
def abandon(proposal_id: str = typer.Argument(..., help="proposal id (a unique prefix is enough)"),
            reason: str = typer.Option("", "--reason", "-r", help="why; kept in the audit log"),
            yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation")) -> None:
    """Give up an interrupted proposal (or one a dead process left executing): its canary, if still routed, is
    rolled back and it ends as failed. Triage again for a fresh proposal."""
    if not yes and not typer.confirm(f"abandon proposal {proposal_id}?"):
        raise typer.Exit(1)
    with agent_runner() as runner:
        record = runner.ctx.approvals.get(proposal_id)
        line = runner.abandon(record.proposal.id, by=whoami(), via="cli", reason=reason)
    console.print(f"[yellow]failed[/]: {line}")
