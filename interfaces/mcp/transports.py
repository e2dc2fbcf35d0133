"""The two ways in: stdio (the client starts `opsagent mcp` and talks over its pipes; the caller is the OS user),
and streamable HTTP behind the web page's bearer tokens (the caller is the token's user).

Over HTTP every request needs ``Authorization: Bearer <token>`` of a user from ``OPSAGENT_WEB_USERS`` /
``OPSAGENT_WEB_TOKEN`` (the web page's users and tokens, ``interfaces.web.auth``); without a valid one the answer is
401 before the MCP layer sees the request, and wrong tokens are throttled per client address like the web page's
sign-ins (429 with ``Retry-After``). On loopback the SDK also checks Host and Origin (DNS-rebinding protection).
"""

from __future__ import annotations

import getpass
import json
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from agent.settings import Settings
from interfaces.mcp.server import build_mcp_server
from interfaces.web.auth import SignInThrottled, WebAuth, bearer_token

MCP_PATH = "/mcp"
USER_KEY = "opsagent_user"  # where the gate leaves the signed-in user in the request's state


def os_user() -> str:
    """Who runs a stdio server: the OS account that started it (the MCP client runs as that person)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return "unknown-os-user"


def http_actor(context: Context) -> str:
    """The user the bearer gate let in, from the HTTP request behind this call."""
    request = context.request_context.request
    user = getattr(getattr(request, "state", None), USER_KEY, None)
    if not isinstance(user, str):  # the gate runs before every request, so this is a wiring bug
        raise RuntimeError("an MCP request reached a tool without passing the bearer-token gate")
    return user


class BearerGate:
    """ASGI middleware: only requests with a web user's bearer token reach the MCP app; the user goes in
    ``request.state``. Lifespan events pass through (the SDK's session manager starts on them)."""

    def __init__(self, app: ASGIApp, auth: WebAuth):
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else None
        token = bearer_token(Headers(scope=scope).get("authorization", ""))
        try:
            user = self.auth.check_bearer(token, address=address)
        except SignInThrottled as exc:
            await _refuse(send, 429, f"{exc}; check the token", {"retry-after": str(exc.retry_after)})
            return
        if user is None:
            await _refuse(send, 401, "send 'Authorization: Bearer <token>' with a token of OPSAGENT_WEB_USERS or "
                          "OPSAGENT_WEB_TOKEN", {"www-authenticate": 'Bearer realm="opsagent"'})
            return
        scope.setdefault("state", {})[USER_KEY] = user
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def stdio_server(settings: Settings) -> MCPServer:
    """The server for stdio: every call acts as the OS user."""
    user = os_user()
    return build_mcp_server(settings, actor_of=lambda _context: user)


def http_app(settings: Settings, auth: WebAuth, *, host: str) -> Any:
    """The streamable-HTTP ASGI app at ``/mcp``, behind the bearer gate. ``host`` is the bind address (on
    loopback the SDK turns on its Host/Origin checks)."""
    server = build_mcp_server(settings, actor_of=http_actor)
    return BearerGate(server.streamable_http_app(streamable_http_path=MCP_PATH, host=host), auth)
