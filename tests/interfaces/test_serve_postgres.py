"""A team's setup, all real servers: MLflow on PostgreSQL (its own database), every store and the checkpointer on
PostgreSQL (OPSAGENT_DATABASE_URL), the memory on `chroma run` (OPSAGENT_CHROMA_URL), and two real `opsagent serve`
processes: train -> scheduled triage -> approve -> execute. They share the inbox, an approval answered on both at
once is executed once, each scheduled tick is triaged once across both, and nothing lands in the home's SQLite."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from agent.approvals import ApprovalStore
from agent.context import OpsContext
from agent.drafting import draft_fix_data
from agent.memory import Memory
from agent.settings import Settings
from graphs.runner import GraphRunner
from interfaces.scheduler.run_log import RunLog
from ml_core.serving.server import free_port
from ml_core.store_engine import make_engine
from tests.conftest import make_champion_home
from tests.interfaces.test_serve import OPSAGENT, _env, _wait_ready
from tests.team_servers import chroma_server

pytestmark = pytest.mark.slow
TOKEN = "two-serves-token"


def _triage_threads(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.text(
                "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id LIKE 'triage-%'"))}
    finally:
        engine.dispose()


def _wait(predicate, timeout: float, what: str, describe=lambda: "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} ({describe()})")


def _stop(procs: list[subprocess.Popen], outs: list[str]) -> None:
    """SIGTERM every serve and keep what each printed (once: a second call finds them collected)."""
    if outs:
        return
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        outs.append(proc.communicate(timeout=240)[0])


@pytest.fixture
def chroma_url(tmp_path):
    with chroma_server(tmp_path / "chroma") as url:
        yield url


def test_two_serves_on_one_postgres_execute_an_approval_once_and_triage_each_tick_once(tmp_path, churn_df, pg_url,
                                                                                       pg_server, chroma_url):
    tracking = pg_server.new_database()  # MLflow's own database on the team's server
    layout, _registry, _job = make_champion_home(tmp_path / "home", churn_df, epochs=2, tracking_uri=tracking)
    settings = Settings(home=layout.home, database_url=pg_url, mlflow_tracking_uri=tracking, chroma_url=chroma_url,
                        canary_watch_s=0, canary_min_requests=5)
    ctx = OpsContext(settings, via="test", actor="tester")
    with GraphRunner(ctx) as runner:  # filed into PostgreSQL: its paused thread is in the shared checkpointer
        proposal = draft_fix_data(ctx, "churn", features=["total_day_minutes"], problem="nulls from the billing feed",
                                  brain="offline policy", incident_id=None)
        runner.file_proposal(proposal)
    ports = [free_port(), free_port()]
    envs = [_env(layout.home, OPSAGENT_DATABASE_URL=pg_url, OPSAGENT_MLFLOW_TRACKING_URI=tracking,
                 OPSAGENT_CHROMA_URL=chroma_url, OPSAGENT_WEB_PORT=str(port), OPSAGENT_WEB_TOKEN=TOKEN,
                 OPSAGENT_SCHEDULE_POLL_S="1", OPSAGENT_SHUTDOWN_GRACE_S="120", OPSAGENT_CANARY_WATCH_S="0")
            for port in ports]
    added = subprocess.run([OPSAGENT, "schedule", "add", "churn", "--every", "0.05"], env=envs[0],
                           capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    procs = [subprocess.Popen([OPSAGENT, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for env in envs]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    answers: list[httpx.Response] = []
    outs: list[str] = []
    try:
        for url, proc in zip(urls, procs, strict=True):
            _wait_ready(url, proc, timeout=180)
        for url in urls:  # both see the proposal: one inbox
            listed = httpx.get(f"{url}/api/proposals", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
            assert proposal.id in [p["proposal"]["id"] for p in listed.json()]
        start = threading.Barrier(2)

        def accept(url: str) -> None:
            start.wait()
            answers.append(httpx.post(f"{url}/api/proposals/{proposal.id}/answer", json={"type": "accept"},
                                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60))

        threads = [threading.Thread(target=accept, args=(url,)) for url in urls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        store = ApprovalStore(settings.layout.approvals_store)
        # Generous deadlines: on a loaded 2-core CI machine the retrain competes with both serves' ticks.
        _wait(lambda: store.get(proposal.id).status in ("executed", "failed"), 360,
              "the approval to execute", lambda: f"status {store.get(proposal.id).status}; answers "
              f"{[(a.status_code, a.text[:300]) for a in answers]}")
        log = RunLog(settings.layout.schedules_store)
        _wait(lambda: any(r.via == "scheduler" for r in log.recent("churn")), 240, "a scheduled run")
    except AssertionError as exc:
        _stop(procs, outs)
        raise AssertionError(f"{exc}\n\n" + "\n\n".join(o[-4000:] for o in outs)) from None
    finally:
        _stop(procs, outs)
    assert [p.returncode for p in procs] == [0, 0], "\n\n".join(o[-3000:] for o in outs)

    assert all(a.status_code in (202, 400) for a in answers), [a.text for a in answers]
    assert store.get(proposal.id).status == "executed"
    events = [e.event for e in store.history(proposal.id)]
    assert events.count("accepted") == 1 and events.count("executing") == 1 and events.count("executed") == 1, events

    runs = [r for r in RunLog(settings.layout.schedules_store).recent("churn", limit=500) if r.via == "scheduler"]
    engine = make_engine(settings.layout.schedules_store)
    with engine.connect() as conn:
        ticks = conn.execute(sa.text("SELECT tick, owner FROM schedule_ticks WHERE job_id = 'triage:churn'")).all()
    engine.dispose()
    # Every tick was claimed once (the key), and every triage that started ran to its record. A claimed tick
    # may lack a run: a serve stopped while that run was still building its context (at most one per serve:
    # one run per model at a time).
    assert len({t for t, _ in ticks}) == len(ticks) and len(runs) >= 1
    assert len(runs) <= len(ticks) <= len(runs) + len(procs), (ticks, runs)
    assert len(_triage_threads(settings.layout.checkpoints_store)) == len(runs)  # one triage per run, none twice

    # The outcome went to the memory on the Chroma server, and no store fell back to a file in the home.
    hits = Memory(layout.home / "memory", url=chroma_url).search(proposal.id, k=5, model="churn")
    assert any(proposal.id in h.text for h in hits), [h.text for h in hits]
    assert not list(layout.home.rglob("*.db")), sorted(str(p) for p in layout.home.rglob("*.db"))
