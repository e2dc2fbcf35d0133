"""Scheduled triage over many ticks on a real served model: an ongoing fault is one incident with one pending
proposal and one notification; when the fault clears, the incident resolves itself after N quiet ticks with
one resolution notification, and its proposal is withdrawn (superseded, audited).

The ticks call ``run_triage`` as the scheduler's job does, with a fake clock that moves a minute a tick (no
real seven-minute wait); traffic comes from the simulator through the real scoring service.
"""

from __future__ import annotations

import time

import pytest

from agent.approvals import ApprovalError
from interfaces.dispatch import Dispatcher
from interfaces.scheduler import run_triage
from interfaces.scheduler.run_log import RunLog
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.predlog import PredictionLog
from ml_core.simulator.scenario import load_scenario
from ml_core.simulator.traffic import deliver_labels, run_traffic
from tests.conftest import make_champion_home
from tests.graphs.world import make_ctx, start_ready

pytestmark = pytest.mark.slow
CLEAR_TICKS = 3  # the default of incident_clear_ticks


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def send(url: str, layout, churn_df, scenario: str, requests: int, seed: int) -> tuple[float, float]:
    """Replay ``scenario`` against the service and deliver its labels; returns the real (start, end) times."""
    pool = split_frame(churn_df, CHURN_SCHEMA).test
    start = time.time()
    traffic = run_traffic(url, load_scenario(scenario).model_copy(update={"requests": requests, "seed": seed}),
                          pool, schema=CHURN_SCHEMA)
    with PredictionLog(layout.predictions_db("churn")) as log:
        deliver_labels(log, traffic)
    return start, time.time()


@pytest.fixture(scope="module")
def served(tmp_path_factory, churn_df):
    layout, registry, job = make_champion_home(tmp_path_factory.mktemp("ticks"), churn_df, epochs=3)
    backend, status = start_ready(layout, registry, job.version)
    yield layout, status.url
    backend.stop()


def tick(layout, clock: FakeClock, window_minutes: float, dispatcher: Dispatcher):
    """One scheduled run: triage through the graphs, the run log, then the dispatcher's notification filter."""
    ctx = make_ctx(layout, clock=clock, triage_window_minutes=window_minutes)
    ctx.via = "scheduler"
    try:
        record = run_triage(ctx, "churn")
    finally:
        ctx.close()
    dispatcher.on_scheduled_run(record)
    return record


def test_an_ongoing_fault_is_one_incident_then_it_resolves_after_quiet_ticks(served, churn_df):
    layout, url = served
    _, fault_end = send(url, layout, churn_df, "covariate_drift", 120, seed=5)
    clock = FakeClock(fault_end + 1.0)
    dispatcher = Dispatcher(make_ctx(layout).settings)
    heard = []
    dispatcher.subscribe(heard.append)

    # Six one-minute ticks over the same ongoing fault (a 60-minute window keeps it in view).
    records = []
    for _ in range(6):
        records.append(tick(layout, clock, 60.0, dispatcher))
        clock.now += 60.0
    ctx = make_ctx(layout)
    assert [r.status for r in records] == ["incident"] * 6, [r.detail for r in records]
    assert [r.tick for r in records] == ["new"] + ["ongoing"] * 5
    [incident] = ctx.incidents.list(model="churn")
    assert incident.status == "proposed" and incident.ticks == 6 and incident.cause == "data_drift"
    assert {r.incident_id for r in records} == {incident.id}
    [pending] = ctx.approvals.pending("churn")
    assert pending.id == incident.proposal_id == records[0].proposal_id
    assert [e.event for e in ctx.approvals.history(pending.id)] == ["proposed"] + ["refreshed"] * 5
    assert [(e.kind, e.incident_id) for e in heard] == [("incident", incident.id)]  # one notification
    assert "still ongoing since" in incident.timeline[-1]["event"] and len(incident.timeline) == 2
    assert len(RunLog(layout.schedules_db).recent("churn")) == 6  # every tick is in the run log

    # The fault ends: clean traffic, and a window that holds only it.
    time.sleep(1.5)
    clean_start, clean_end = send(url, layout, churn_df, "no_fault", 300, seed=9)
    clock.now = clean_end + 0.5
    window = (clock.now - clean_start + 0.5) / 60
    quiet = [tick(layout, clock, window, dispatcher) for _ in range(CLEAR_TICKS + 1)]
    assert [r.tick for r in quiet] == ["clearing"] * (CLEAR_TICKS - 1) + ["resolved", "quiet"], \
        [r.detail for r in quiet]
    resolved = ctx.incidents.get(incident.id)
    assert resolved.status == "resolved" and resolved.resolved_at == clock.now
    assert resolved.timeline[-1]["event"].startswith("proposal") and "withdrawn" in resolved.timeline[-1]["event"]
    assert any(e["event"].startswith(f"resolved: signals clear for {CLEAR_TICKS}") for e in resolved.timeline)
    # one resolution notification besides the opening one (the last tick is an ordinary quiet run)
    assert [e.kind for e in heard] == ["incident", "resolved", "quiet"]
    # the pending proposal was withdrawn, audited, and answering it says why
    withdrawn = ctx.approvals.get(pending.id)
    assert withdrawn.status == "superseded" and withdrawn.outcome.startswith("withdrawn: incident")
    assert ctx.approvals.history(pending.id)[-1].event == "superseded"
    assert ctx.approvals.pending("churn") == []
    from agent.proposals import Accept
    from graphs.runner import GraphRunner

    with GraphRunner(make_ctx(layout)) as runner, pytest.raises(ApprovalError, match="is withdrawn: incident"):
        runner.answer(pending.id, Accept(by="alice", via="cli"))
