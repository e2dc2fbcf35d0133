"""`opsagent mcp` driven by the MCP SDK's own client: over stdio (the server a real subprocess) and over streamable
HTTP (a real server on loopback, behind the web page's bearer tokens). A home with a trained churn champion, traffic
in its prediction log and long memories: the tools answer from it, results stay within the catalog's size bound,
a filed proposal waits in the approvals inbox, audited as the caller via ``mcp``, and nothing can execute."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from agent.approvals import ApprovalStore
from agent.memory import Memory
from interfaces.mcp.transports import os_user
from ml_core.serving.server import free_port
from tests.conftest import make_champion_home
from tests.tools.tool_test_support import write_traffic
from tools.catalog import MAX_CHARS, PROPOSAL_TOOLS, READ_TOOLS, args_model

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")
TOKENS = {"alice": "alice-mcp-token-123", "bob": "bob-mcp-token-456"}
EXPECTED_TOOLS = {f.__name__ for f in READ_TOOLS} | {f.__name__ for f in PROPOSAL_TOOLS}
Session = Callable[[ClientSession], Awaitable[Any]]


@pytest.fixture(scope="module")
def home(tmp_path_factory, churn_df) -> Path:
    layout, registry, job = make_champion_home(tmp_path_factory.mktemp("mcp"), churn_df, epochs=2)
    write_traffic(layout, registry, churn_df, version=job.version, now=time.time(), n=200, labels=150)
    memory = Memory(layout.memory_dir)
    for i in range(10):  # ten long memories: recall_incidents(k=10) would be far over the size bound unhalved
        memory.record("incident", f"incident {i}: total_day_minutes drifted and F1 dropped. " + "detail " * 80,
                      model="churn", metadata={f"field{j}": "x" * 200 for j in range(6)})
    return layout.home


def _env(home: Path, **extra: str) -> dict[str, str]:
    # Only what the server needs: the home, this checkout on the path, and no LLM or web-search keys.
    return {"OPSAGENT_HOME": str(home), "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **extra}


def _text(result: Any) -> str:
    return "".join(c.text for c in result.content if c.type == "text")


def over_stdio(home: Path, body: Session) -> Any:
    params = StdioServerParameters(command=OPSAGENT, args=["mcp"], env=_env(home))

    async def main() -> Any:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return await body(session)

    return anyio.run(main)


def over_http(url: str, token: str, body: Session) -> Any:
    async def main() -> Any:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client, \
                streamable_http_client(url, http_client=client) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            return await body(session)

    return anyio.run(main)


async def _tools(session: ClientSession) -> dict[str, Any]:
    return {t.name: t for t in (await session.list_tools()).tools}


async def _call(session: ClientSession, name: str, args: dict[str, Any]) -> tuple[Any, str]:
    result = await session.call_tool(name, args)
    return result, _text(result)


@pytest.fixture(scope="module")
def stdio_answers(home) -> dict[str, Any]:
    """One stdio session (starting the server is the slow part): the tool list, then each call's (result, text)."""
    calls: tuple[tuple[str, dict[str, Any]], ...] = (("list_models", {}), ("model_status", {"model": "churn"}),
             ("slo_status", {"model": "churn", "window_minutes": 60}),
             ("recall_incidents", {"query": "total_day_minutes drifted", "k": 10}),
             ("model_status", {"model": "nosuchmodel"}),
             ("propose_retrain", {"model": "churn", "reason": "F1 dropped on drifted total_day_minutes",
                                  "window_minutes": 60, "epochs": 1}))

    async def body(session: ClientSession) -> dict[str, Any]:
        out: dict[str, Any] = {"tools": await _tools(session)}
        for name, args in calls:
            out[f"{name}:{args.get('model', args.get('query', ''))}"] = await _call(session, name, args)
        return out

    return over_stdio(home, body)  # type: ignore[no-any-return]


def test_stdio_offers_the_catalog_reads_and_proposals_and_answers_from_the_home(stdio_answers):
    out = stdio_answers
    tools = out["tools"]
    assert set(tools) == EXPECTED_TOOLS  # nothing that approves, executes, deploys or rolls back
    for name, tool in tools.items():
        assert tool.annotations.read_only_hint is (not name.startswith("propose_")), name
        assert tool.input_schema == args_model(next(f for f in READ_TOOLS + PROPOSAL_TOOLS
                                                     if f.__name__ == name)).model_json_schema()
    assert tools["propose_retrain"].annotations.destructive_hint is False

    result, text = out["list_models:"]
    churn = json.loads(text)["models"][0]
    assert not result.is_error and (churn["name"], churn["n_versions"], churn["champion"]) == ("churn", 1, "1")
    assert churn["latest"][0]["version"] == "1" and churn["latest"][0]["ready_for_deploy"] is True
    _result, text = out["model_status:churn"]
    assert json.loads(text)["champion"] == "1"
    _result, text = out["slo_status:churn"]
    slo = json.loads(text)
    assert slo["n_requests"] == 200 and slo["overall"]["n"] == 200 and slo["breaches"] == []

    result, text = out["recall_incidents:total_day_minutes drifted"]
    hits = json.loads(text)["hits"]  # still JSON: long lists are halved until the answer fits
    assert not result.is_error and len(text) <= MAX_CHARS and 0 < len(hits) < 10
    result, text = out["model_status:nosuchmodel"]
    assert result.is_error and "unknown model 'nosuchmodel'" in text and "churn" in text


def _filed(home: Path, pid: str) -> tuple[Any, list[Any]]:
    with ApprovalStore(Path(home) / "approvals.db") as store:
        return store.get(pid), store.history(pid)


def test_stdio_files_a_proposal_that_waits_for_approval_as_the_os_user(stdio_answers, home):
    result, text = stdio_answers["propose_retrain:churn"]
    filed = json.loads(text)
    assert not result.is_error and filed["filed"] is True and filed["kind"] == "retrain"
    record, history = _filed(home, filed["proposal_id"])
    assert record.status == "pending" and record.source == "mcp" and record.thread_id
    assert [(e.event, e.actor, e.via) for e in history] == [("proposed", os_user(), "mcp")]


@pytest.fixture(scope="module")
def http_server(home):
    port = free_port("127.0.0.1")
    env = {**os.environ, **_env(home, OPSAGENT_WEB_USERS=json.dumps(TOKENS))}
    env.pop("OPSAGENT_WEB_TOKEN", None)
    proc = subprocess.Popen([OPSAGENT, "mcp", "--transport", "http", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.post(url, timeout=2)  # any answer (a 401) means it listens
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                output = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"opsagent mcp did not start: {output}") from None
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_http_refuses_requests_without_a_valid_bearer_token(http_server):
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKENS['alice']}"}):
        r = httpx.post(http_server, json=hello, headers={**accept, **headers}, timeout=30)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in r.json()["error"]
    with pytest.raises(Exception):  # noqa: B017 (the SDK client wraps the 401 in its own exception group)
        over_http(http_server, "wrong-token", _tools)


def test_http_lists_the_same_tools_and_files_as_the_tokens_user(http_server, home):
    async def body(session: ClientSession) -> tuple[dict[str, Any], tuple[Any, str], tuple[Any, str]]:
        return (await _tools(session), await _call(session, "compare_versions", {
            "model": "churn", "version_a": "champion", "version_b": "1"}),
            await _call(session, "propose_retrain", {"model": "churn", "reason": "estimated F1 fell", "epochs": 1}))

    tools, (_r, compared), (result, text) = over_http(http_server, TOKENS["bob"], body)
    assert set(tools) == EXPECTED_TOOLS
    assert json.loads(compared)["delta"] == {k: 0.0 for k in json.loads(compared)["a"]["test_metrics"]}
    filed = json.loads(text)
    assert not result.is_error and filed["filed"] is True
    record, history = _filed(home, filed["proposal_id"])
    assert record.status == "pending" and [(e.event, e.actor, e.via) for e in history] == [("proposed", "bob", "mcp")]


def test_http_wrong_tokens_are_throttled_per_address_like_the_web_page(home):
    from agent.settings import Settings
    from interfaces.mcp.transports import http_app
    from interfaces.web.auth import WebAuth
    from interfaces.web.throttle import SignInThrottle
    from ml_core.serving.server import ThreadedServer

    auth = WebAuth(dict(TOKENS), b"k" * 32, throttle=SignInThrottle(per_address=2, window_s=300))
    server = ThreadedServer(http_app(Settings(home=home), auth, host="127.0.0.1")).start()
    try:
        url = f"{server.url}/mcp"
        for _ in range(2):
            assert httpx.post(url, json={}, headers={"Authorization": "Bearer nope"}).status_code == 401
        r = httpx.post(url, json={}, headers={"Authorization": f"Bearer {TOKENS['alice']}"})
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 300 and "try again" in r.json()["error"]
    finally:
        server.stop()


def test_a_port_in_use_is_a_message_and_exit_code_2(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([OPSAGENT, "mcp", "--transport", "http", "--port", str(port)], env={
            **os.environ, **_env(tmp_path / "home")}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in run.stderr and "--port" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
