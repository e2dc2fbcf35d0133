"""`opsagent mcp`: the read-only tools and proposal filing as an MCP server (stdio, or streamable HTTP)."""

from __future__ import annotations

import enum

import typer

from interfaces.cli.common import UserError, err_console, load_settings

DEFAULT_PORT = 8781  # beside the web page's 8780
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Transport(enum.StrEnum):
    stdio = "stdio"
    http = "http"


def mcp(
    transport: Transport = typer.Option(Transport.stdio, help="stdio: an MCP client starts this command and talks "
                                        "over its pipes; http: streamable HTTP at /mcp, bearer tokens required"),
    host: str = typer.Option("127.0.0.1", help="bind address for --transport http (loopback by default)"),
    port: int = typer.Option(DEFAULT_PORT, min=1, max=65535, help="port for --transport http"),
) -> None:
    """Serve opsagent's tools to MCP clients (Claude Desktop, VS Code, Cursor, an agent framework): the read-only
    tools (registry, deployments, drift, performance, SLOs, feature importance, memory) and the propose_* tools,
    which only file a proposal for a person to approve. Nothing here approves or executes anything.

    Over stdio the caller is the OS user; over HTTP every request needs 'Authorization: Bearer <token>' with a
    token of OPSAGENT_WEB_USERS / OPSAGENT_WEB_TOKEN (the web page's users), and the caller is that user.
    Filed proposals are audited with interface 'mcp' and that user.
    """
    settings = load_settings()
    if transport is Transport.stdio:
        from interfaces.mcp.transports import stdio_server

        # Nothing on stdout but the protocol: the SDK diverts stray output to stderr while it serves.
        err_console.print(f"opsagent MCP server on stdio for {settings.layout.home}", highlight=False)
        stdio_server(settings).run("stdio")
        return
    _serve_http(settings, host, port)


def _serve_http(settings, host: str, port: int) -> None:  # type: ignore[no-untyped-def]
    import secrets

    import uvicorn

    from interfaces.mcp.transports import MCP_PATH, http_app
    from interfaces.web.auth import WebAuth, resolve_users

    _check_bindable(host, port)
    users, generated = resolve_users(settings)
    # Bearer tokens only, no cookies: the signing key is never used, so a throwaway one does.
    auth = WebAuth(users, secrets.token_bytes(32))
    app = http_app(settings, auth, host=host)
    err_console.print(f"opsagent MCP server on http://{host}:{port}{MCP_PATH} for {settings.layout.home}",
                      highlight=False)
    if generated:
        err_console.print(f"  bearer token for user 'operator': {generated} — set OPSAGENT_WEB_TOKEN to keep one",
                          highlight=False)
    else:
        err_console.print(f"  bearer tokens of: {', '.join(sorted(users))}", highlight=False)
    if host not in LOOPBACK:
        err_console.print(f"  [yellow]listening on {host}, not loopback: put it behind TLS (a reverse proxy)[/]")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _check_bindable(host: str, port: int) -> None:
    """Fail with a message (not uvicorn's log line and exit 1) when the port is taken or the host is not ours."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:  # also socket.gaierror: a host name that does not resolve
        raise UserError(f"cannot listen on {host}:{port}: {exc}; choose another --port or --host") from exc
