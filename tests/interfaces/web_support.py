"""Helpers for the web page tests: the real app on uvicorn (loopback, free port) over a dispatcher whose chat
model a test can swap for a scripted fake, sign-in helpers, and an incident with a post-mortem and a plot."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from agent.context import OpsContext
from agent.incidents import IncidentStore
from interfaces.dispatch import Dispatcher
from interfaces.web.app import create_web_app
from ml_core.serving.server import ThreadedServer
from tests.graphs.fakes import ScriptedChatModel
from tests.interfaces.inbox_world import InboxWorld

USERS = {"alice": "alice-token-123", "bob": "bob-token-456"}
# A 1x1 PNG padded to a few hundred bytes: enough for the page to show a plot.
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


class StreamingScriptedModel(ScriptedChatModel):
    """The scripted fake, streaming each text answer word by word (as an OpenAI endpoint would). When
    ``gate`` is set, the stream pauses after the first word until the test sets it: proof that the page
    shows tokens before the answer is complete."""

    gate: Any = None

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        message = self._generate(messages, stop, run_manager, **kwargs).generations[0].message
        if message.tool_calls or not isinstance(message.content, str) or not message.content:
            chunk = AIMessageChunk(content=message.content, tool_call_chunks=[
                {"name": tc["name"], "args": json.dumps(tc["args"]), "id": tc["id"], "index": i,
                 "type": "tool_call_chunk"} for i, tc in enumerate(message.tool_calls)],
                usage_metadata=message.usage_metadata)
            yield ChatGenerationChunk(message=chunk)
            return
        words = message.content.split(" ")
        for i, word in enumerate(words):
            text = word if i == 0 else " " + word
            yield ChatGenerationChunk(message=AIMessageChunk(content=text))
            if i == 0 and self.gate is not None:
                self.gate.wait(timeout=60)


@dataclass
class WebWorld:
    """The web app on loopback over ``dispatcher``; set ``chat_model`` to a fake before a chat turn."""

    world: InboxWorld
    dispatcher: Dispatcher
    server: ThreadedServer
    chat_model: Any = None
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))
    app: Any = None  # the FastAPI app (tests reach its WebAuth through app.state.web_auth)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, follow_redirects=False, **kwargs)

    def signed_in(self, user: str = "alice") -> tuple[httpx.Client, str]:
        """A client with a session cookie, and the session's CSRF token."""
        client = self.client()
        r = client.post("/login", data={"user": user, "token": self.users[user], "next": "/inbox"})
        assert r.status_code == 303, r.text
        csrf = client.get("/api/me").json()["csrf"]
        return client, csrf

    def bearer(self, user: str = "alice") -> httpx.Client:
        return self.client(headers={"Authorization": f"Bearer {self.users[user]}"})


def start_web(world: InboxWorld, **settings: Any) -> WebWorld:
    """Build the dispatcher (its chat model is whatever the returned world's ``chat_model`` holds) and serve it."""
    holder: dict[str, Any] = {}

    def context(s: Any, actor: str, via: str) -> OpsContext:
        web = holder.get("web")
        return OpsContext(s, actor=actor, via=via, chat_model=web.chat_model if web else None)

    dispatcher = Dispatcher(world.settings(**settings), context_factory=context)
    app = create_web_app(dispatcher, users=dict(USERS), session_secret=b"s" * 64)
    server = ThreadedServer(app).start()
    web = WebWorld(world=world, dispatcher=dispatcher, server=server, app=app)
    holder["web"] = web
    return web


def stop_web(web: WebWorld) -> None:
    web.server.stop()
    web.dispatcher.shutdown(grace_s=60)


def make_incident(world: InboxWorld, proposal_id: str | None = None) -> str:
    """An incident whose post-mortem (Markdown with a drift plot) lies in the reports folder; returns its id."""
    store = IncidentStore(world.layout.approvals_db)
    try:
        incident = store.open("churn", status="proposed", category="data_drift", culprit=["total_day_minutes"],
                              summary="total_day_minutes drifted", proposal_id=proposal_id)
        folder = world.layout.reports_dir / incident.id
        (folder / "plots").mkdir(parents=True, exist_ok=True)
        (folder / "plots" / "total_day_minutes.png").write_bytes(PNG)
        md = folder / "postmortem.md"
        md.write_text("# Drift in total_day_minutes\n\n| | |\n|---|---|\n| **Model** | churn |\n\n"
                      "Raw <script>alert(1)</script> stays text.\n\n"
                      "![total_day_minutes](plots/total_day_minutes.png)\n", encoding="utf-8")
        store.update(incident.id, postmortem_path=str(md))
        return incident.id
    finally:
        store.close()


def wait_for(predicate: Any, timeout: float = 60.0, every: float = 0.1) -> Any:
    """Poll until ``predicate()`` is truthy (background jobs); returns its value or fails with a message."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)
