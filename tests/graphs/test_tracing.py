"""Traces of graph runs in the home's MLflow store (read back with MLflow's own client), their ids in the incident
and the post-mortem, OPSAGENT_TRACING=off, and the OTLP export to a real collector stand-in on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import mlflow
import pytest
from fakes import ScriptedChatModel, answer, tool_call
from world import make_ctx

from agent.tracing import TRACE_EXPERIMENT
from graphs.runner import GraphRunner

pytestmark = pytest.mark.slow

TRIAGE_NODES = {"start", "monitor", "deploys", "recall", "investigate", "diagnose", "correlate", "draft", "file",
                "report", "record"}


@pytest.fixture(autouse=True)
def tracing_on(monkeypatch):
    """The suite runs untraced (tests/conftest.py); here tracing is what is tested, as users get it: on."""
    monkeypatch.setenv("OPSAGENT_TRACING", "on")


def stored_trace(tracking_uri: str, trace_id: str) -> Any:
    """The trace as the store holds it, found by searching its experiment (not a cache of this process)."""
    mlflow.flush_trace_async_logging()
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(TRACE_EXPERIMENT)
    assert experiment is not None, "no traces experiment in the store"
    found = client.search_traces(locations=[experiment.experiment_id], max_results=100)
    match = [t for t in found if t.info.trace_id == trace_id]
    assert match, f"trace {trace_id} not in experiment {TRACE_EXPERIMENT}"
    return match[0]


def test_a_scripted_triage_is_one_trace_with_node_llm_and_tool_spans(drift_world):
    llm = ScriptedChatModel(script=[
        tool_call("drift_report", model="churn", window_minutes=30),
        answer("Day-time minutes drifted."),
        tool_call("LLMDiagnosis", detected=True, category="data_drift", culprit=["total_day_minutes"],
                  action="retrain", summary="total_day_minutes drifted; retrain on recent traffic.",
                  evidence=["drift_report: total_day_minutes drifted"], confidence=0.8),
    ])
    ctx = make_ctx(drift_world.layout, chat_model=llm)
    with GraphRunner(ctx) as runner:
        out = runner.triage("churn", window_minutes=30)
    assert out.trace_id and out.proposal_id
    trace = stored_trace(ctx.settings.tracking_uri, out.trace_id)
    spans = trace.data.spans
    names = {s.name for s in spans}
    root = next(s for s in spans if s.parent_id is None)
    assert root.name == "triage churn"
    assert names >= TRIAGE_NODES  # every node of the run, as a span
    chat_calls = [s for s in spans if s.span_type == "CHAT_MODEL"]
    assert len(chat_calls) == 3  # two investigation turns and the diagnosis
    tool = next(s for s in spans if s.span_type == "TOOL" and s.name == "drift_report")
    assert tool.inputs == {"model": "churn", "window_minutes": 30}
    assert "total_day_minutes" in str(tool.outputs)
    by_id = {s.span_id: s for s in spans}
    assert by_id[tool.parent_id].name == "investigate"  # the tool call sits under the node that made it
    # the proposal's remediation thread, started by the file node, is part of the same trace
    assert any(s.name == f"remediation {out.proposal_id}" for s in spans)
    # the trace id is stored with the run: in the post-mortem and in the incident
    md = Path(out.postmortem).read_text()
    assert f"| **Trace** | {out.trace_id} (MLflow experiment {TRACE_EXPERIMENT} at {ctx.settings.tracking_uri}) |" in md
    assert ctx.incidents.get(out.incident_id).trace_id == out.trace_id


def test_the_offline_runbook_tools_are_spans_too(drift_world):
    ctx = make_ctx(drift_world.layout)
    with GraphRunner(ctx) as runner:
        out = runner.triage("churn", window_minutes=30)
    assert out.diagnosis.brain == "offline policy" and out.trace_id
    spans = stored_trace(ctx.settings.tracking_uri, out.trace_id).data.spans
    tools = [s.name for s in spans if s.span_type == "TOOL"]
    gathered, runbook = out.tools_called[:3], out.tools_called[3:]  # the gather nodes' reads, then the runbook's
    assert sorted(gathered) == ["monitoring_check", "recall_incidents", "recent_deploys"]
    assert runbook and tools == runbook  # each planned call, in order, and nothing else
    assert not [s for s in spans if s.span_type == "CHAT_MODEL"]


def test_a_chat_turn_traces_the_llm_and_its_tool_call(drift_world):
    llm = ScriptedChatModel(script=[tool_call("list_models"), answer("churn is registered.")])
    ctx = make_ctx(drift_world.layout, chat_model=llm)
    with GraphRunner(ctx) as runner:
        events = list(runner.stream_chat("which models are registered?", thread_id="traced"))
    assert events[-2] == ("answer", "churn is registered.")
    experiment = mlflow.MlflowClient(ctx.settings.tracking_uri).get_experiment_by_name(TRACE_EXPERIMENT)
    mlflow.flush_trace_async_logging()
    chats = [t for t in mlflow.MlflowClient(ctx.settings.tracking_uri).search_traces(
        locations=[experiment.experiment_id], max_results=100) if t.data.spans[0].name == "chat"]
    assert chats, "no chat trace"
    spans = chats[0].data.spans
    assert [s.name for s in spans if s.span_type == "TOOL"] == ["list_models"]
    assert len([s for s in spans if s.span_type == "CHAT_MODEL"]) == 2
    assert {"agent", "tools"} <= {s.name for s in spans}


def test_tracing_off_writes_no_trace_and_says_so(drift_world, monkeypatch):
    monkeypatch.setenv("OPSAGENT_TRACING", "off")
    from agent.settings import Settings

    settings = Settings(home=drift_world.layout.home)
    assert settings.tracing is False
    ctx = make_ctx(drift_world.layout, tracing=False)
    client = mlflow.MlflowClient(ctx.settings.tracking_uri)
    experiment = client.get_experiment_by_name(TRACE_EXPERIMENT)
    mlflow.flush_trace_async_logging()
    before = len(client.search_traces(locations=[experiment.experiment_id], max_results=500))
    with GraphRunner(ctx) as runner:
        out = runner.triage("churn", window_minutes=30)
    mlflow.flush_trace_async_logging()
    assert out.trace_id is None
    assert len(client.search_traces(locations=[experiment.experiment_id], max_results=500)) == before
    assert "| **Trace** | not traced (OPSAGENT_TRACING=off) |" in Path(out.postmortem).read_text()
    assert ctx.incidents.get(out.incident_id).trace_id is None


class Collector:
    """An OTLP/HTTP collector stand-in: keeps the ExportTraceServiceRequest bodies POSTed to /v1/traces."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.paths: list[str] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.paths.append(self.path)
                received.requests.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1/traces"

    def span_names(self) -> list[str]:
        return [s.name for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


def test_otlp_endpoint_exports_the_same_trace_to_a_collector_and_the_store(drift_world, collector):
    from agent.tracing import traced_run

    llm = ScriptedChatModel(script=[tool_call("list_models"), answer("churn.")])
    ctx = make_ctx(drift_world.layout, chat_model=llm, otlp_endpoint=collector.endpoint)
    try:
        with GraphRunner(ctx) as runner:
            runner.chat("which models?", thread_id="otlp")
        mlflow.tracing.provider.get_bridged_tracer_provider().force_flush()  # the OTLP exporter batches
        names = collector.span_names()
        assert set(collector.paths) == {"/v1/traces"}
        assert {"chat", "agent", "tools", "list_models", "ScriptedChatModel"} <= set(names)
        otlp_trace_ids = {s.trace_id.hex() for r in collector.requests for rs in r.resource_spans
                          for ss in rs.scope_spans for s in ss.spans if s.name == "chat"}
        assert len(otlp_trace_ids) == 1
        # dual export: the store has the trace too, under MLflow's id for the same OTel trace
        (otel_id,) = otlp_trace_ids
        assert stored_trace(ctx.settings.tracking_uri, f"tr-{otel_id}").data.spans[0].name == "chat"
    finally:
        with traced_run(make_ctx(drift_world.layout).settings, "reset"):  # back to the store alone
            pass
    with traced_run(make_ctx(drift_world.layout).settings, "after"):
        pass
    mlflow.tracing.provider.get_bridged_tracer_provider().force_flush()
    assert "after" not in collector.span_names()


class LangSmithStandIn:
    """Answers LangSmith's API (GET /info, POST /runs/multipart …) with {} and keeps what was posted."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes]] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                if self.command != "GET":
                    received.posts.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST = do_PATCH = answer  # noqa: N815 (http.server's naming)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"


def test_langsmith_still_gets_the_runs_when_its_environment_asks(tmp_path):
    """LANGSMITH_TRACING/LANGSMITH_API_KEY: LangChain adds LangSmith's tracer beside ours; both get the turn."""
    import os
    import subprocess
    import sys

    stand_in = LangSmithStandIn()
    env = {**os.environ, "LANGSMITH_TRACING": "true", "LANGSMITH_API_KEY": "lsv2-test-key",
           "LANGSMITH_ENDPOINT": stand_in.url, "LANGSMITH_PROJECT": "opsagent-test",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    try:
        done = subprocess.run([sys.executable, str(Path(__file__).parent / "langsmith_child.py"),
                               str(tmp_path / "home")], env=env, capture_output=True, text=True, timeout=300)
    finally:
        stand_in.httpd.shutdown()
        stand_in.httpd.server_close()
    assert done.returncode == 0, done.stderr[-2000:]
    reply, traces = done.stdout.strip().splitlines()[-1].split("|")
    assert reply == "all quiet" and traces == "1"  # MLflow has the turn's trace
    posted = b"".join(body for path, body in stand_in.posts if path.startswith("/runs"))
    assert b'"LangGraph"' in posted and b'"ScriptedChatModel"' in posted and b"anything wrong?" in posted
