"""`opsagent` — the command line. Each command group lives in its own module."""

from __future__ import annotations

import sys

import typer

from interfaces.cli import (
    adopt_cmd,
    approvals_cmd,
    chat_cmd,
    demo_cmd,
    deploy_cmd,
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
app.command("demo")(demo_cmd.demo)
model_cmds.register(app)
model_cmds.registry_app.command("importance")(importance_cmd.importance)  # its own module: matplotlib, tables
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


def main() -> None:
    """Console-script entry: user errors become a message and exit code 2, never a traceback."""
    quiet_libraries()
    try:
        app()
    except user_error_types() as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
