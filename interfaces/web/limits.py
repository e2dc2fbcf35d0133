"""A small ASGI middleware for the web page: caps request bodies and adds browser security headers.

Pure ASGI (not BaseHTTPMiddleware) so streamed chat answers pass through untouched. Paths under
``/slack/`` are left alone: the Slack endpoint `opsagent serve` adds has its own rules.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 256 * 1024  # a chat message is at most 4,000 characters; forms are small
EXEMPT_PREFIXES = ("/slack/",)
# Batches of ingested predictions and labels (interfaces/web/ingest_api.py) are far bigger than any form.
LARGE_BODY_PREFIXES = (("/api/v1/models/", 8 * 1024 * 1024),)
SECURITY_HEADERS = [
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; object-src 'none'; "
     b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class WebLimits:
    """Refuse bodies over ``max_body`` bytes with 413 (before the app sees them); add security headers."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES):
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        path = str(scope.get("path", ""))
        limit = next((cap for prefix, cap in LARGE_BODY_PREFIXES if path.startswith(prefix)), self.max_body)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        if scope.get("method") in ("POST", "PUT", "PATCH") and declared is None:
            # No Content-Length (chunked): read it all here, within the cap, then replay it to the app.
            chunks: list[bytes] = []
            size = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > limit:
                    await _too_large(send, limit)
                    return
                if not message.get("more_body", False):
                    break
            receive = _replay(b"".join(chunks), receive)
        await self.app(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later: the disconnect message

    return replayed


async def _too_large(send: Send, limit: int) -> None:
    body: dict[str, Any] = {"detail": f"the request is larger than {limit // 1024} KiB; send less "
                                      f"(chat messages are limited to 4,000 characters)"}
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})
