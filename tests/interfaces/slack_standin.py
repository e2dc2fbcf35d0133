"""A small stand-in for Slack's Web API on loopback: records every call and answers the way Slack does.

``WebClient(base_url=standin.api_url)`` sends ``chat.postMessage`` & co. here; ``standin.response_url(key)``
is a ``response_url`` for slash commands and buttons (Bolt's ``respond()`` posts JSON to it). Tests read
``standin.calls`` and wait for calls that listeners make after ``ack()`` with ``standin.wait_for``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from ml_core.serving.server import ThreadedServer

BOT_USER = "UBOTOPS"


@dataclass
class Call:
    method: str  # "chat.postMessage", ..., or "response_url"
    args: dict[str, Any]
    token: str | None = None
    key: str | None = None  # the response_url key
    answer: dict[str, Any] = field(default_factory=dict)  # what the stand-in replied (its "ts" for a post)


@dataclass
class SlackStandIn:
    """The recorded calls; ``fail_with`` set to an error name makes every Web API call answer ``ok: false``."""

    calls: list[Call] = field(default_factory=list)
    fail_with: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "start() the stand-in first"
        return self.server.url

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, key: str) -> str:
        return f"{self.url}/response_url/{key}"

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def of(self, method: str, **match: Any) -> list[Call]:
        """Calls of ``method`` whose args (or response_url key, as ``key``) have the given values."""
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls if c.method == method
                and all((c.key if k == "key" else c.args.get(k)) == v for k, v in match.items())]

    def wait_for(self, method: str, predicate: Callable[[Call], bool] = lambda _c: True, *, timeout: float = 30,
                 **match: Any) -> Call:
        """The first call of ``method`` matching ``match`` and ``predicate``, waiting for it up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.of(method, **match) if predicate(c)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                seen = [(c.method, c.key or c.args.get("channel")) for c in self.calls]
                raise AssertionError(f"no {method} call matching {match} within {timeout}s; calls: {seen}")
            time.sleep(0.05)

    def next_ts(self) -> str:
        with self._lock:
            return f"1700000000.{next(self._ts):06d}"

    def start(self) -> SlackStandIn:
        self.server = ThreadedServer(build_app(self)).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def _args(raw: dict[str, Any]) -> dict[str, Any]:
    # Form-encoded calls carry blocks and views as JSON strings; decode them so tests read one shape.
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if isinstance(v, str) and v[:1] in "[{":
            with contextlib.suppress(ValueError):
                v = json.loads(v)
        out[k] = v
    return out


def build_app(standin: SlackStandIn) -> FastAPI:
    app = FastAPI()

    @app.post("/api/{method}")
    async def api(method: str, request: Request) -> JSONResponse:
        body: dict[str, Any] = {}
        if "json" in request.headers.get("content-type", ""):
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}  # slack_sdk sends an empty JSON body for no args
        else:
            body = dict(await request.form())
        token = request.headers.get("authorization", "").removeprefix("Bearer ") or None
        args = _args({**dict(request.query_params), **body})
        answer = {"ok": False, "error": standin.fail_with} if standin.fail_with else _answer(standin, method, args)
        standin.record(Call(method=method, args=args, token=token, answer=answer))
        return JSONResponse(answer)

    @app.post("/response_url/{key}")
    async def response_url(key: str, request: Request) -> PlainTextResponse:
        standin.record(Call(method="response_url", args=await request.json(), key=key))
        return PlainTextResponse("ok")

    return app


def _answer(standin: SlackStandIn, method: str, args: dict[str, Any]) -> dict[str, Any]:
    channel = args.get("channel")
    if method == "auth.test":
        return {"ok": True, "url": "https://opsagent-test.slack.com/", "team": "opsagent-test", "user": "opsagent",
                "team_id": "T0TEST", "user_id": BOT_USER, "bot_id": "B0BOTOPS"}
    if method == "chat.postMessage":
        ts = standin.next_ts()
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"type": "message", "text": args.get("text", ""), "user": BOT_USER, "ts": ts,
                            "thread_ts": args.get("thread_ts")}}
    if method == "chat.update":
        return {"ok": True, "channel": channel, "ts": args.get("ts"), "text": args.get("text", "")}
    if method == "chat.postEphemeral":
        return {"ok": True, "message_ts": standin.next_ts()}
    if method in ("views.open", "views.update", "views.push"):
        view = args.get("view") or {}
        return {"ok": True, "view": {"id": "V0EDIT", **(view if isinstance(view, dict) else {})}}
    return {"ok": False, "error": "unknown_method"}
