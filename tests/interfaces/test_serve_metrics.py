"""`GET /metrics` of `opsagent serve`: a real serve process on loopback, scraped as Prometheus would (bearer
token), after a triage asked for through the API; and, in process, the LLM series after a scripted chat turn."""

from __future__ import annotations

import subprocess
import time
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.approvals import ApprovalStore
from agent.incidents import IncidentStore
from interfaces.scheduler.run_log import RunLog
from ml_core.serving.server import free_port
from tests.graphs.fakes import ScriptedChatModel, answer, tool_call
from tests.interfaces.test_serve import OPSAGENT, _env, _wait_ready
from tests.interfaces.web_support import start_web, stop_web

TOKEN = "metrics-test-token"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape: (name, sorted labels) -> value, parsed by prometheus_client's own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _series(found: dict, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (n, labels), value in found.items() if n == name}


@pytest.mark.slow
def test_serve_metrics_count_triage_runs_incidents_proposals_and_llm_usage(inbox_world):
    layout = inbox_world.layout
    inbox_world.file_fix_data()
    with IncidentStore(layout.approvals_db) as incidents:
        incidents.open("churn", status="proposed", category="data_drift", culprit=["total_day_minutes"],
                       summary="total_day_minutes drifted")
    port = free_port()
    env = _env(layout.home, OPSAGENT_WEB_PORT=str(port), OPSAGENT_WEB_TOKEN=TOKEN)
    proc = subprocess.Popen([OPSAGENT, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {TOKEN}"}
    try:
        _wait_ready(url, proc)
        assert httpx.get(f"{url}/metrics", timeout=10).status_code == 401  # signed in, like the JSON API
        job = httpx.post(f"{url}/api/triage", json={"model": "churn"}, headers=auth, timeout=30).json()
        deadline = time.time() + 300
        while httpx.get(f"{url}/api/jobs/{job['id']}", headers=auth, timeout=30).json()["status"] == "running":
            assert time.time() < deadline, "the triage did not finish"
            time.sleep(0.5)
        scrape = httpx.get(f"{url}/metrics", headers=auth, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=180)
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    found = samples(scrape.text)

    [run] = [r for r in RunLog(layout.schedules_db).recent("churn") if r.via == "web"]
    runs = (("model", "churn"), ("outcome", run.status))
    assert _series(found, "opsagent_triage_runs_total") == {runs: 1.0}
    assert found[("opsagent_triage_duration_seconds_count", runs)] == 1.0
    assert found[("opsagent_triage_duration_seconds_sum", runs)] == pytest.approx(run.finished_at - run.started_at)

    # The stores' counts at scrape time, read here record by record.
    with IncidentStore(layout.approvals_db) as incidents:
        expected_incidents = Counter((i.model, i.category, i.status) for i in incidents.list(limit=10_000))
    with ApprovalStore(layout.approvals_db) as approvals:
        expected_proposals = Counter((r.proposal.model, r.proposal.kind, r.status) for r in approvals.list())
    assert _series(found, "opsagent_incidents") == {
        (("category", c), ("model", m), ("status", s)): float(n) for (m, c, s), n in expected_incidents.items()}
    assert (("category", "data_drift"), ("model", "churn"), ("status", "proposed")) in _series(found,
                                                                                                "opsagent_incidents")
    assert _series(found, "opsagent_proposals") == {
        (("kind", k), ("model", m), ("status", s)): float(n) for (m, k, s), n in expected_proposals.items()}
    assert ("fix_data", "pending") in {(k, s) for (_m, k, s) in expected_proposals}

    # No LLM is configured: the offline policy made no calls, and the series say so (zeros, not absent).
    llm = (("llm", "gpt-4o-mini"),)
    assert found[("opsagent_llm_calls_total", llm)] == 0.0
    assert found[("opsagent_llm_tokens_total", (("direction", "input"), *llm))] == 0.0
    assert found[("opsagent_llm_cost_usd_total", llm)] == 0.0


def test_llm_series_count_every_call_of_a_chat_turn(inbox_world):
    web = start_web(inbox_world)
    try:
        # Two calls: a tool call (120 in / 15 out tokens), then the answer (200 in / 40 out).
        web.chat_model = ScriptedChatModel(script=[tool_call("list_models"), answer("churn is the only model.")])
        client = web.bearer()
        with client.stream("POST", "/api/chat", json={"message": "which models?"}) as r:
            assert r.status_code == 200
            assert any('"answer"' in line for line in r.iter_lines())
        found = samples(client.get("/metrics").text)  # the stream ended with the turn: both calls are counted
    finally:
        stop_web(web)
    llm = (("llm", "gpt-4o-mini"),)
    assert found[("opsagent_llm_calls_total", llm)] == 2.0
    assert found[("opsagent_llm_errors_total", llm)] == 0.0
    assert found[("opsagent_llm_tokens_total", (("direction", "input"), *llm))] == 320.0
    assert found[("opsagent_llm_tokens_total", (("direction", "output"), *llm))] == 55.0
    assert _series(found, "opsagent_triage_runs_total") == {}  # no triage ran in this process
