"""Each scheduled tick runs once across schedulers sharing one job store (interfaces/scheduler/ticks.py), on
SQLite and on a real PostgreSQL; the run log on both."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from agent.settings import Settings
from interfaces.scheduler import TriageScheduler
from interfaces.scheduler.run_log import RunLog, RunRecord
from interfaces.scheduler.ticks import KEEP_S, TickClaims
from ml_core.registry import Registry


def test_a_tick_is_claimed_once_and_old_claims_are_dropped(db_target):
    now = [1_000_000.0]
    claims = TickClaims(db_target("schedules.db"), clock=lambda: now[0])
    other = TickClaims(db_target("schedules.db"), clock=lambda: now[0])  # a second process on the same store
    tick = datetime.fromtimestamp(now[0], UTC)
    assert claims.claim("triage:churn", tick, owner="a") is True
    assert other.claim("triage:churn", tick, owner="b") is False
    assert other.claim("triage:credit", tick, owner="b") is True  # another model's tick is its own
    assert claims.owner("triage:churn", tick) == "a"
    now[0] += KEEP_S + 60
    assert claims.claim("triage:churn", datetime.fromtimestamp(now[0], UTC), owner="a")
    assert claims.owner("triage:churn", tick) is None  # pruned with the next claim of that job


def test_of_many_racers_for_one_tick_exactly_one_wins(db_target):
    tick = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    stores = [TickClaims(db_target("schedules.db")) for _ in range(4)]
    wins: list[int] = []
    start = threading.Barrier(len(stores))

    def race(i: int) -> None:
        start.wait()
        if stores[i].claim("triage:churn", tick, owner=f"p{i}"):
            wins.append(i)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_the_run_log_reads_back_newest_first(db_target):
    log = RunLog(db_target("schedules.db"))
    for i, status in enumerate(("ok", "incident", "failed")):
        log.append(RunRecord(model="churn", started_at=float(i), finished_at=i + 0.5, status=status, via="test",
                             detail=f"run {i}", tick="new" if status == "incident" else ""))
    log.append(RunRecord(model="credit", started_at=9.0, finished_at=9.5, status="ok", via="test"))
    assert [r.detail for r in log.recent("churn")] == ["run 2", "run 1", "run 0"]
    assert log.last("credit").started_at == 9.0 and log.last("fraud") is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_schedulers_on_one_store_triage_each_tick_once(backend, tmp_path, monkeypatch, request):
    """Two running schedulers (as two `opsagent serve` would) over one job store, a job every 2 s: every tick
    has exactly one run record, where without the claims each tick would have two."""
    for var in ("OPSAGENT_LLM_BASE_URL", "OPSAGENT_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else None
    settings = Settings(home=tmp_path / "home", database_url=url, schedule_timezone="UTC", schedule_poll_s=0.5)
    Registry(settings.layout.ensure()).models()  # MLflow's tables, before jobs run on threads
    first, second = TriageScheduler(settings), TriageScheduler(settings)
    first.add("ghost", every_minutes=2 / 60)  # not registered: each run fails fast and is recorded
    first.start()
    second.start()
    try:
        time.sleep(9)
    finally:
        first.shutdown()
        second.shutdown()
    with RunLog(settings.layout.schedules_store) as log:
        runs = log.recent("ghost", limit=100)
    assert len(runs) >= 3, runs  # the job did fire, several ticks
    assert all(r.status == "failed" and "no registered model 'ghost'" in r.detail for r in runs)
    # Ticks are 2 s apart; the two schedulers wake for the same tick within milliseconds of each other (without
    # the claims, two runs of one tick started 9-45 ms apart here). Half the interval tells the cases apart.
    starts = sorted(r.started_at for r in runs)
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) > 1.0, starts
    with TickClaims(settings.layout.schedules_store) as claims, claims.store.read() as conn:
        ticks = conn.exec_driver_sql("SELECT tick, owner FROM schedule_ticks").all()
    # One claim per run, one run per tick; a scheduler shut down between claiming a tick and starting its run
    # leaves that claim without a run (at most one per scheduler, and only the last tick: seen once in the suite).
    assert len(runs) <= len(ticks) <= len(runs) + 2, (ticks, runs)
    assert len({t for t, _ in ticks}) == len(ticks)
