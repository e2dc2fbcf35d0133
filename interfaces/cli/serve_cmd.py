"""`opsagent serve` (web page + Slack endpoint + scheduler) and `opsagent serve-model` (the scoring service)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from interfaces.cli.common import UserError, console, load_settings


def serve(
    host: str | None = typer.Option(None, help="bind address (default OPSAGENT_WEB_HOST, loopback)"),
    port: int | None = typer.Option(None, min=1, max=65535, help="port (default OPSAGENT_WEB_PORT, 8780)"),
    config: Path | None = typer.Option(None, "--config", "-c", help="a TOML settings file (same keys as the "
                                       "OPSAGENT_* variables, lower case); the environment overrides it"),
    scheduler: bool = typer.Option(True, "--scheduler/--no-scheduler", help="run scheduled triage in this process"),
) -> None:
    """Run opsagent for a team: the web page (chat, approvals inbox, incidents, models), the Slack endpoint
    (when SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set) and scheduled triage, until Ctrl-C or SIGTERM.

    Stopping lets running triages and remediations finish (up to OPSAGENT_SHUTDOWN_GRACE_S); every step is
    checkpointed, so nothing is left half-written.
    """
    from interfaces.allocator import tune_for_long_running

    tune_for_long_running()  # first: glibc fixes its arena cap once a 9th arena exists
    if config is not None:
        if not config.is_file():
            raise UserError(f"--config {config}: no such file; give the path of a TOML settings file")
        os.environ["OPSAGENT_CONFIG"] = str(config.resolve())  # the scheduler's jobs read settings too
    settings = load_settings()
    updates = {k: v for k, v in (("web_host", host), ("web_port", port)) if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)

    from interfaces.serve import build_server, run

    server = build_server(settings, with_scheduler=scheduler)
    _banner(server)
    stopped_by = run(server, host=settings.web_host, port=settings.web_port)
    if server.stopped:
        console.print(f"[yellow]stopped with work still running[/] ({', '.join(server.stopped)}); "
                      "their last checkpoint stands — `opsagent approvals list` and `opsagent incidents list` show it")
        os._exit(0)  # running worker threads would otherwise hold the interpreter open past the grace
    console.print(f"opsagent stopped cleanly{f' ({stopped_by})' if stopped_by else ''}")


def _banner(server) -> None:  # type: ignore[no-untyped-def]
    s = server.settings
    url = f"http://{s.web_host}:{s.web_port}"
    console.print(f"[bold]opsagent[/] serving {s.layout.home}")
    console.print(f"  web page   {url}/  (sign in: {_sign_in(server)})")
    console.print(f"  slack      {server.slack}")
    if server.scheduler is None:
        console.print("  scheduler  off (--no-scheduler)")
    else:
        from interfaces.scheduler import schedule_store

        with schedule_store(s) as store:
            watched = [f"{e.model} ({e.trigger})" for e in store.entries()]
        idle = "no watched models yet: opsagent schedule add MODEL --every 15"
        console.print(f"  scheduler  {', '.join(watched) or idle}")
    if s.web_host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"  [yellow]listening on {s.web_host}, not loopback: put it behind TLS (a reverse proxy)[/]")
    console.print("  Ctrl-C stops")


def _sign_in(server) -> str:  # type: ignore[no-untyped-def]
    if server.generated_token:
        return f"user 'operator', token {server.generated_token} — set OPSAGENT_WEB_TOKEN to keep one"
    users = sorted(server.settings.web_users)
    named = f"users {', '.join(users)} with their tokens from OPSAGENT_WEB_USERS" if users else ""
    token = "user 'operator' with OPSAGENT_WEB_TOKEN" if server.settings.web_token else ""
    return "; ".join(x for x in (named, token) if x)


def serve_model(
    model: str | None = typer.Option(None, help="registered model name (default from settings)"),
    port: int | None = typer.Option(None, min=1, max=65535, help="port (default OPSAGENT_SERVE_PORT, 8765)"),
    host: str | None = typer.Option(None, help="bind address (default loopback)"),
) -> None:
    """Run the model's scoring service in the foreground (Ctrl-C stops it).

    It serves the routing in OPSAGENT_HOME/deploy/MODEL.json; `opsagent deploy start` runs the same
    service in the background instead.
    """
    from ml_core.serving.__main__ import main as serve_main

    settings = load_settings()
    name = model or settings.model_name
    bind_port = port or settings.serve_port
    console.print(f"serving [bold]{name}[/] on http://{host or settings.serve_host}:{bind_port} "
                  f"(POST /predict, /health, /ready, /metrics)")
    serve_main(["--home", str(settings.layout.home), "--model", name, "--port", str(bind_port),
                "--host", host or settings.serve_host, "--tracking-uri", settings.tracking_uri])
