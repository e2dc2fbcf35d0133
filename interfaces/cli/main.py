"""`opsagent` — the command line. Each command group lives in its own module.

`opsagent --help` must stay fast (well under a second): the command modules import only typer and rich at the
top and their heavy libraries (torch, MLflow, LangGraph, Evidently, pydantic-settings) inside the commands, and
the libraries are quietened in the root callback, which runs only when a command does. ``evals/bench_cli.py``
measures it; tests/interfaces/test_cli_scripting.py checks that --help imports none of them.
"""

from __future__ import annotations

import sys

import typer

from interfaces.cli import (
    adopt_cmd,
    approvals_cmd,
    chat_cmd,
    demo_cmd,
    deploy_cmd,
    doctor_cmd,
    drift_cmd,
    eval_cmd,
    evaluate_cmd,
    importance_cmd,
    incidents_cmd,
    ingest_cmd,
    mcp_cmd,
    memory_cmd,
    model_cmds,
    models_cmd,
    registry_cmds,
    schedule_cmd,
    serve_cmd,
    simulate_cmd,
    triage_cmd,
)
from interfaces.cli.common import err_console, quiet_libraries, user_error_types

app = typer.Typer(
    name="opsagent",
    help="An ops assistant for ML models in production: train, evaluate, serve, deploy, simulate traffic, "
    "detect drift, triage incidents, chat, and approve the agent's proposals. "
    "State lives in OPSAGENT_HOME (default ~/.opsagent).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"opsagent {version('opsagent')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("opsagent (not installed: no package metadata; `pip install -e .`)")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="print the installed version and exit")) -> None:
    """Runs before every command (never for `opsagent --help` or --version): quieten the libraries it may load.
    A command's own --help loads none of them either, so it skips this (importing MLflow to quieten it)."""
    if "--help" not in sys.argv[1:]:
        quiet_libraries()


app.command("demo")(demo_cmd.demo)
model_cmds.register(app)
app.add_typer(registry_cmds.registry_app, name="registry")
registry_cmds.registry_app.command("importance")(importance_cmd.importance)  # its own module: matplotlib, tables
models_cmd.app.command("adopt")(adopt_cmd.adopt)  # its own module: MLflow import and copy logic
app.add_typer(models_cmd.app, name="models")
app.command("evaluate")(evaluate_cmd.evaluate)
app.command("serve")(serve_cmd.serve)
app.command("serve-model")(serve_cmd.serve_model)
app.add_typer(deploy_cmd.app, name="deploy")
app.command("simulate")(simulate_cmd.simulate)
app.command("drift")(drift_cmd.drift)
app.add_typer(memory_cmd.app, name="memory")
app.command("triage")(triage_cmd.triage)
app.command("chat")(chat_cmd.chat)
app.add_typer(approvals_cmd.app, name="approvals")
app.add_typer(incidents_cmd.app, name="incidents")
app.add_typer(schedule_cmd.app, name="schedule")
app.command("eval")(eval_cmd.eval_)
app.add_typer(ingest_cmd.app, name="ingest")
app.command("mcp")(mcp_cmd.mcp)
app.command("doctor")(doctor_cmd.doctor)


def unreachable_database_types() -> tuple[type[BaseException], ...]:
    """A database server that refuses the connection (down, wrong host or password): the setting to check."""
    from sqlalchemy.exc import OperationalError

    return (OperationalError,)


def unreachable_database(exc: BaseException) -> str:
    from agent.settings import DATABASE_URL_HINT

    cause = getattr(exc, "orig", exc)
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    on_server = type(cause).__module__.startswith("psycopg")  # else SQLite: a file problem, not the setting
    return f"cannot use the database: {reason}" + (f". {DATABASE_URL_HINT}" if on_server else "")


def main() -> None:
    """Console-script entry: user errors become a message and exit code 2, never a traceback."""
    try:
        app()
    except SystemExit:  # click's normal exit (--help too): before the next clause, whose types import MLflow
        raise
    except user_error_types() as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    except unreachable_database_types() as exc:
        err_console.print(f"[bold red]error:[/] {unreachable_database(exc)}")
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
