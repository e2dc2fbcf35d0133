"""The real ChatOpenAI against a real OpenAI-compatible HTTP server on loopback: tokens, cost, timeouts, retries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from agent.llm import UsageMeter, brain_label, failure_reason, make_chat_model
from agent.settings import Settings


def completion(text: str = "All quiet.", prompt_tokens: int = 1234, completion_tokens: int = 321) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "local-test",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


class FakeLLMServer:
    """A ThreadingHTTPServer answering /v1/chat/completions from a script of (status, delay_s) steps."""

    def __init__(self, script: list[tuple[int, float]] | None = None):
        self.script = list(script or [])
        self.bodies: list[dict[str, Any]] = []
        self.release = threading.Event()  # frees handlers still sleeping when the test ends
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                server.bodies.append(json.loads(self.rfile.read(length)))
                status, delay = server.script.pop(0) if server.script else (200, 0.0)
                if delay:
                    server.release.wait(delay)
                payload = completion() if status == 200 else {"error": {"message": "boom", "type": "server_error"}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def llm_server() -> Iterator[Callable[..., FakeLLMServer]]:
    servers: list[FakeLLMServer] = []

    def start(script: list[tuple[int, float]] | None = None) -> FakeLLMServer:
        servers.append(FakeLLMServer(script).__enter__())
        return servers[-1]

    yield start
    for s in servers:
        s.__exit__()


def settings_for(url: str | None, **kw: Any) -> Settings:
    return Settings(llm_base_url=url, llm_model="local-test", **kw)


def test_no_llm_configured_means_no_model():
    assert make_chat_model(Settings()) is None


def test_meter_counts_tokens_and_cost_and_max_tokens_reaches_the_server(llm_server):
    server = llm_server()
    settings = settings_for(server.url, llm_max_tokens=77, llm_input_usd_per_mtok=1.0, llm_output_usd_per_mtok=2.0)
    meter = UsageMeter()
    model = make_chat_model(settings, callbacks=[meter])
    assert model is not None
    reply = model.invoke("Is churn healthy?")
    model.invoke("And now?")
    assert reply.content == "All quiet."
    assert meter.snapshot() == {"calls": 2, "errors": 0, "input_tokens": 2468, "output_tokens": 642}
    assert meter.cost_usd(settings) == pytest.approx((2468 * 1.0 + 642 * 2.0) / 1e6)
    assert meter.line(settings) == "2 LLM calls, 2,468 in / 642 out tokens, est. $0.0038"
    body = server.bodies[0]
    assert body["max_tokens"] == 77, "llama.cpp reads max_tokens, not max_completion_tokens"
    assert body["model"] == "local-test"
    assert body["messages"][-1]["content"] == "Is churn healthy?"


def test_a_server_slower_than_the_timeout_fails_within_the_retry_budget(llm_server):
    timeout, retries = 0.3, 1
    server = llm_server([(200, 5.0)] * (retries + 1))
    meter = UsageMeter()
    model = make_chat_model(settings_for(server.url, llm_timeout_s=timeout, llm_max_retries=retries),
                            callbacks=[meter])
    assert model is not None
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError) as caught:
        model.invoke("hello")
    elapsed = time.monotonic() - started
    # Each attempt waits the timeout; between attempts the client backs off at most 0.5 s * 2^i.
    backoff = sum(0.5 * 2**i for i in range(retries))
    assert timeout * (retries + 1) * 0.9 <= elapsed <= timeout * (retries + 1) + backoff + 1.0
    assert len(server.bodies) == retries + 1
    assert meter.snapshot()["errors"] == 1
    assert failure_reason(caught.value, settings_for(None, llm_timeout_s=30)) == "timeout after 30 s"


def test_a_500_then_a_200_succeeds_through_the_retry(llm_server):
    server = llm_server([(500, 0.0), (200, 0.0)])
    meter = UsageMeter()
    model = make_chat_model(settings_for(server.url, llm_max_retries=2), callbacks=[meter])
    assert model is not None
    assert model.invoke("hello").content == "All quiet."
    assert len(server.bodies) == 2, "one failed attempt, one retry"
    assert meter.snapshot()["calls"] == 1 and meter.snapshot()["errors"] == 0


def test_no_retries_means_a_500_is_an_error(llm_server):
    server = llm_server([(500, 0.0)])
    model = make_chat_model(settings_for(server.url, llm_max_retries=0))
    assert model is not None
    with pytest.raises(openai.InternalServerError) as caught:
        model.invoke("hello")
    assert len(server.bodies) == 1
    assert failure_reason(caught.value, Settings()) == "HTTP 500 from the LLM endpoint"


def test_meter_reads_llm_output_when_messages_carry_no_usage():
    meter = UsageMeter()
    result = LLMResult(generations=[[ChatGeneration(message=AIMessage(content="x"))]],
                       llm_output={"token_usage": {"prompt_tokens": 10, "completion_tokens": 4}})
    meter.on_llm_end(result, run_id=None)  # type: ignore[arg-type]
    assert meter.snapshot()["input_tokens"] == 10 and meter.snapshot()["output_tokens"] == 4


def test_meter_is_thread_safe():
    meter = UsageMeter()
    result = LLMResult(generations=[[ChatGeneration(message=AIMessage(
        content="x", usage_metadata={"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}))]])
    threads = [threading.Thread(target=lambda: [meter.on_llm_end(result) for _ in range(500)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert meter.snapshot() == {"calls": 2000, "errors": 0, "input_tokens": 6000, "output_tokens": 2000}


def test_offline_line_and_brain_labels():
    settings = Settings(llm_model="gpt-4o-mini")
    assert UsageMeter().line(settings) == "no LLM calls (offline policy)"
    assert brain_label(settings, used_llm=True) == "llm gpt-4o-mini"
    assert brain_label(settings, used_llm=False) == "offline policy"
    assert brain_label(settings, used_llm=True, fallback_reason="timeout after 30 s") == (
        "offline policy (LLM failed: timeout after 30 s)")


def test_openai_endpoint_gets_no_duplicate_max_tokens():
    model = make_chat_model(Settings(llm_api_key="sk-test"))  # type: ignore[arg-type]
    assert model is not None
    assert getattr(model, "extra_body", None) is None


def test_calls_beyond_the_rate_limit_wait_for_the_bucket(llm_server):
    """The bucket starts empty and fills at the rate: six calls at 4 requests/s need six tokens, 1.5 s of
    filling (the 1.0 s floor leaves room for the 50 ms polling); at 1,000/s the same calls take a fraction."""
    server = llm_server()

    def six_calls(rate: float) -> float:
        settings = settings_for(server.url, llm_requests_per_second=rate)
        first, second = make_chat_model(settings), make_chat_model(settings)
        assert first is not None and second is not None
        assert first.rate_limiter is second.rate_limiter  # one bucket per process, however many models are built
        started = time.monotonic()
        for i in range(6):
            (first if i % 2 else second).invoke("ping")
        return time.monotonic() - started

    limited, fast = six_calls(4.0), six_calls(1000.0)
    assert len(server.bodies) == 12
    assert limited >= 1.0, f"6 calls at 4/s took only {limited:.2f} s"
    assert fast < limited / 2, f"without the limit the calls took {fast:.2f} s: the delay is not the limiter's"
