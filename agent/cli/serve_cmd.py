"""`opsagent serve` — the scoring service in the foreground."""

from __future__ import annotations

import typer

from agent.cli.common import console, load_settings


def serve(
    model: str | None = typer.Option(None, help="registered model name (default from settings)"),
    port: int | None = typer.Option(None, min=1, max=65535, help="port (default OPSAGENT_SERVE_PORT, 8765)"),
    host: str | None = typer.Option(None, help="bind address (default loopback)"),
) -> None:
    """Run the scoring service in the foreground (Ctrl-C stops it).

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
                "--host", host or settings.serve_host])
