"""The graphs under LangGraph's own server: `langgraph dev` on loopback over a home with a drifted churn champion,
driven with `langgraph_sdk` as Studio and Agent Inbox drive it. No LLM: the offline brain answers.

A triage run files its proposal into the approvals inbox and leaves a remediation thread paused on
``interrupt([HumanInterrupt])``; answers sent through the server's resume API act, are audited as
``langgraph-api`` and land on the same proposal the CLI, the web page and Slack read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest
from pydantic import TypeAdapter

from agent.approvals import ApprovalStore
from agent.proposals import FixDataProposal
from ml_core.serving.server import free_port
from tests.graphs.world import serve_world

pytest.importorskip("langgraph_api", reason="langgraph-cli[inmem] (a dev dependency) runs `langgraph dev`")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
STARTUP_S = 300  # importing the graphs (torch, MLflow, Chroma) takes ~60 s on a loaded 2-core machine
RUN_S = 600  # one triage: monitoring, the drift report, memory, the post-mortem (~90 s here)


def start_server(workdir: Path, home: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`langgraph dev` on a free loopback port, in ``workdir`` (where it keeps its `.langgraph_api` state), on
    this checkout's graphs (langgraph.json's, with absolute paths); returns (process, url, log file)."""
    spec = json.loads((ROOT / "langgraph.json").read_text())
    spec["dependencies"] = [str(ROOT)]
    spec["graphs"] = {gid: str(ROOT / path.removeprefix("./")) for gid, path in spec["graphs"].items()}
    (workdir / "langgraph.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSAGENT_", "LANGSMITH_", "LANGCHAIN_"))}
    env.update(OPSAGENT_HOME=str(home), OPSAGENT_CANARY_WATCH_S="0", PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]), LANGSMITH_TRACING="false",
        LANGGRAPH_CLI_NO_ANALYTICS="1")
    port = free_port()
    log = workdir / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "langgraph_cli", "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser",
         "--no-reload", "--config", "langgraph.json"],
        cwd=workdir, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + STARTUP_S
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=5).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            pass
        time.sleep(1)
    stop(proc)
    pytest.fail(f"langgraph dev did not answer /ok within {STARTUP_S} s:\n{log.read_text()[-4000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(tmp_path_factory, churn_df):
    world = serve_world(tmp_path_factory.mktemp("lg-world"), churn_df)
    world.backend.stop()  # the drifted traffic is logged; triage reads the log, not the service
    proc, url, log = start_server(tmp_path_factory.mktemp("lg-server"), world.layout.home)
    from langgraph_sdk import get_sync_client

    yield get_sync_client(url=url, timeout=RUN_S), world, log
    stop(proc)


def wait_interrupted(client, thread_id: str, timeout: float = RUN_S) -> dict:
    """The thread once it is paused on an interrupt (a run created by another run starts when a worker is free)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        thread = client.threads.get(thread_id)
        if thread["status"] == "interrupted":
            return thread
        assert thread["status"] in ("busy", "idle"), thread["status"]
        time.sleep(1)
    pytest.fail(f"thread {thread_id} was not interrupted within {timeout} s")


def the_interrupt(thread: dict) -> list:
    [interrupts] = thread["interrupts"].values()  # one task paused
    [paused] = interrupts
    return paused["value"]


@pytest.fixture(scope="module")
def filed(server):
    """A triage run on the server that files a proposal: (its output, the proposal's record, its server thread)."""
    client, world, _log = server
    thread = client.threads.create()
    out = client.runs.wait(thread["thread_id"], "triage", input={"model": "churn", "window_minutes": 24 * 60})
    assert isinstance(out, dict) and out.get("proposal"), out
    record = ApprovalStore(world.layout.approvals_db).get(out["proposal"]["id"])
    return out, record, wait_interrupted(client, record.thread_id)


def test_chat_answers_under_the_server(server):
    client, _world, _log = server
    thread = client.threads.create()
    out = client.runs.wait(thread["thread_id"], "chat",
                           input={"messages": [{"role": "user", "content": "status of churn"}]})
    assert isinstance(out, dict) and out["brain"] == "offline policy"
    last = out["messages"][-1]
    assert last["type"] == "ai" and "churn: v1 is champion" in last["content"]


def test_triage_leaves_a_thread_paused_on_agent_inboxs_human_interrupt(server, filed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt.interrupt import HumanInterrupt
    out, record, thread = filed
    assert out["filed"].startswith(f"proposal {record.id} filed for approval")
    assert record.status == "pending" and record.source == "langgraph-api" and record.proposal.kind == "retrain"
    assert thread["metadata"]["graph_id"] == "remediation"  # what an inbox on graph `remediation` lists
    value = the_interrupt(thread)
    assert isinstance(value, list) and len(value) == 1  # interrupt([HumanInterrupt])
    [request] = value
    assert set(request) == {"action_request", "config", "description"}
    assert set(request["action_request"]) == {"action", "args"}
    assert request["action_request"]["action"] == "retrain" and request["action_request"]["args"]["id"] == record.id
    assert request["config"] == {"allow_ignore": True, "allow_respond": True, "allow_edit": True,
                                 "allow_accept": True}
    assert TypeAdapter(HumanInterrupt).validate_python(request) == request


def test_ignore_through_the_resume_api_rejects_the_same_proposal_in_the_inbox(server, filed):
    client, world, _log = server
    _out, record, _thread = filed
    out = client.runs.wait(record.thread_id, "remediation", command={"resume": [{"type": "ignore", "args": None}]})
    assert out["status"] == "rejected"
    store = ApprovalStore(world.layout.approvals_db)
    after = store.get(record.id)
    assert (after.status, after.decision, after.decided_via) == ("rejected", "ignore", "langgraph-api")
    answered = [(e.event, e.via) for e in store.history(record.id) if e.event in ("answered-ignore", "rejected")]
    assert answered == [("answered-ignore", "langgraph-api"), ("rejected", "langgraph-api")]
    assert client.threads.get(record.thread_id)["status"] == "idle"  # nothing more to answer


def test_a_thread_started_in_studio_enters_the_inbox_and_a_response_then_an_accept_act(server):
    """A remediation thread started on the server directly (Studio's "new thread"), not by a triage."""
    client, world, _log = server
    p = FixDataProposal(model="churn", title="fix the billing feed", rationale="nulls in evening charges",
                        champion_version=world.champion, expires_at=time.time() + 3600, brain="offline policy",
                        features=["total_eve_charge"], problem="empty evening charges")
    thread = client.threads.create()["thread_id"]
    client.runs.wait(thread, "remediation", input={"proposal": p.model_dump(mode="json")})
    wait_interrupted(client, thread)
    store = ApprovalStore(world.layout.approvals_db)
    assert store.get(p.id).status == "pending" and store.get(p.id).thread_id == thread  # the CLI lists it

    client.runs.wait(thread, "remediation", command={"resume": [{"type": "response", "args": "who owns the feed?"}]})
    asked_again = the_interrupt(wait_interrupted(client, thread))  # a response revises and asks again
    assert asked_again[0]["action_request"]["args"]["id"] == p.id
    accept = {"type": "accept", "args": asked_again[0]["action_request"]}  # as Agent Inbox sends it
    out = client.runs.wait(thread, "remediation", command={"resume": [accept]})
    assert out["status"] == "executed" and "upstream feed" in out["outcome"]
    after = store.get(p.id)
    assert (after.status, after.decision, after.decided_via) == ("executed", "accept", "langgraph-api")
    events = [(e.event, e.via) for e in store.history(p.id)]
    assert events[:4] == [("proposed", "langgraph-api"), ("answered-response", "langgraph-api"),
                          ("responded", "langgraph-api"), ("answered-accept", "langgraph-api")]
    assert ("accepted", "langgraph-api") in events and ("executed", "langgraph-api") in events
