"""`opsagent serve` as a real subprocess: web page, Slack endpoint and scheduler in one process on loopback;
SIGTERM while a scheduled triage runs lets it finish (every triage thread ends checkpointed at its last step);
bad settings get a message and exit code 2."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from interfaces.scheduler.run_log import RunLog
from ml_core.serving.server import free_port

OPSAGENT = str(Path(sys.executable).with_name("opsagent"))


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSAGENT_", "SLACK_"))}
    env.update({"OPSAGENT_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra})
    return env


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early ({proc.returncode}): {proc.stdout.read() if proc.stdout else ''}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("serve did not come up")


def _triage_threads(checkpoints: Path) -> list[str]:
    conn = sqlite3.connect(checkpoints, timeout=30)
    try:
        return [r[0] for r in conn.execute(
            "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id LIKE 'triage-%'")]
    finally:
        conn.close()


@pytest.mark.slow
def test_serve_runs_web_slack_and_scheduler_and_stops_cleanly_on_sigterm(inbox_world):
    home = inbox_world.layout.home
    port = free_port()
    env = _env(home, OPSAGENT_WEB_PORT=str(port), OPSAGENT_WEB_TOKEN="serve-test-token",
               SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET="shh", OPSAGENT_SLACK_API_BASE_URL="http://127.0.0.1:9/api/",
               OPSAGENT_SCHEDULE_POLL_S="1", OPSAGENT_SHUTDOWN_GRACE_S="120")
    added = subprocess.run([OPSAGENT, "schedule", "add", "churn", "--every", "0.02"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    proc = subprocess.Popen([OPSAGENT, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        # The web page asks for a sign-in; the token works as a bearer token.
        assert httpx.get(f"{url}/", follow_redirects=False, timeout=10).status_code in (302, 303, 307)
        assert httpx.get(f"{url}/inbox", headers={"Authorization": "Bearer serve-test-token"},
                         timeout=30).status_code == 200
        # The Slack endpoint is mounted and verifies signatures.
        assert httpx.post(f"{url}/slack/events", content=b"command=/opsagent&text=status", timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 401
        # The scheduler runs: wait for one scheduled triage to finish, then stop while the next is running
        # (a triage thread in the checkpoints that the run log has no record of yet).
        log = RunLog(inbox_world.layout.schedules_db)
        deadline = time.time() + 120
        while not [r for r in log.recent("churn") if r.via == "scheduler"] and time.time() < deadline:
            time.sleep(0.5)
        assert [r for r in log.recent("churn") if r.via == "scheduler"], "no scheduled triage ran"
        while time.time() < deadline and len(_triage_threads(inbox_world.layout.checkpoints_db)) <= len(
                log.recent("churn", limit=500)):
            time.sleep(0.1)
        assert len(_triage_threads(inbox_world.layout.checkpoints_db)) > len(log.recent("churn", limit=500))
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    assert "opsagent stopped cleanly" in out
    assert "web page" in out and "slack      http" in out and "churn (every 0.02 min)" in out

    # Every triage that started finished: its thread ended, and the run log has one record per thread.
    from agent.context import OpsContext
    from graphs.runner import GraphRunner

    with GraphRunner(OpsContext(inbox_world.settings())) as runner:
        threads = _triage_threads(inbox_world.layout.checkpoints_db)
        assert threads
        unfinished = [t for t in threads
                      if runner.triage_graph.get_state({"configurable": {"thread_id": t}}).next]
    assert unfinished == [], out
    scheduled = [r for r in RunLog(inbox_world.layout.schedules_db).recent("churn", limit=500) if r.via == "scheduler"]
    assert len(scheduled) == len(threads)
    assert all(r.status in ("ok", "incident") for r in scheduled), ([r.detail for r in scheduled], out)


def test_serve_without_slack_settings_has_no_slack_endpoint(inbox_world):
    from starlette.testclient import TestClient

    from interfaces.serve import build_server

    server = build_server(inbox_world.settings(web_token="t"), with_scheduler=False)
    assert server.slack.startswith("off")
    with TestClient(server.app) as client:
        assert client.get("/healthz").status_code == 200
        assert client.post("/slack/events", content=b"x").status_code in (404, 405)


@pytest.mark.parametrize("args, extra_env, message", [
    (["serve", "--config", "/nonexistent/opsagent.toml"], {}, "no such file"),
    (["serve"], {"OPSAGENT_WEB_PORT": "http"}, "OPSAGENT_WEB_PORT"),
    (["serve", "--port", "0"], {}, "--port"),
])
def test_serve_bad_settings_get_a_message(tmp_path, args, extra_env, message):
    out = subprocess.run([OPSAGENT, *args], env=_env(tmp_path / "home", **extra_env), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr + out.stdout and "Traceback" not in out.stderr


def test_serve_reads_a_toml_config_file_and_rejects_unknown_keys(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('web_prot = 9000\n')
    out = subprocess.run([OPSAGENT, "serve", "--config", str(bad)], env=_env(tmp_path / "home"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "web_prot" in out.stderr.lower() and "Traceback" not in out.stderr
    from agent.settings import Settings

    good = tmp_path / "good.toml"
    good.write_text('web_port = 9123\nslack_approvers = ["U1"]\n[web_users]\nalice = "a-token"\n')
    os.environ["OPSAGENT_CONFIG"] = str(good)
    try:
        s = Settings(home=tmp_path)
    finally:
        del os.environ["OPSAGENT_CONFIG"]
    assert s.web_port == 9123 and s.slack_approvers == ["U1"] and s.web_users["alice"].get_secret_value() == "a-token"
