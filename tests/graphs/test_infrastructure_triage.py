"""End to end: a served churn model takes traffic, its scoring process is SIGKILLed mid-traffic, and the scheduled
triage over that window (real service, real registry, real graphs, the offline policy) blames the platform: an
infrastructure incident naming the dead process and how it ended, a page for the platform owner instead of a
retrain or rollback, and a post-mortem that says which replica, in which state."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from world import make_ctx, start_ready

from agent.proposals import Accept
from graphs.runner import GraphRunner
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.predlog import PredictionLog
from ml_core.simulator.scenario import load_scenario
from ml_core.simulator.traffic import deliver_labels, run_traffic
from tests.conftest import make_champion_home

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crashed(tmp_path_factory, churn_df):
    """(layout, pid, window start): 20 requests answered, the process killed, 10 more that cannot connect."""
    layout, registry, job = make_champion_home(tmp_path_factory.mktemp("crash"), churn_df, epochs=2)
    backend, status = start_ready(layout, registry, job.version)
    pool = split_frame(churn_df, CHURN_SCHEMA).test
    started = time.time()
    quiet = load_scenario("no_fault").model_copy(update={"requests": 20, "batch_size": 5, "rate": 50})
    with PredictionLog(layout.predictions_db("churn")) as log:
        deliver_labels(log, run_traffic(status.url, quiet, pool, schema=CHURN_SCHEMA))
    assert status.pid is not None
    os.kill(status.pid, signal.SIGKILL)
    after = run_traffic(status.url, quiet.model_copy(update={"requests": 10, "seed": 99}), pool, schema=CHURN_SCHEMA)
    assert (after.ok, after.failed) == (0, 10)
    yield layout, status.pid, started
    backend.stop()


def test_a_dead_scoring_process_is_diagnosed_as_infrastructure_and_paged(crashed) -> None:
    layout, pid, started = crashed
    pod = f"churn-scoring (pid {pid})"
    ctx = make_ctx(layout, actor="scheduler")
    with GraphRunner(ctx) as runner:
        out = runner.triage("churn", window_minutes=(time.time() - started + 1) / 60)
        d = out.diagnosis
        assert (d.detected, d.category, d.action, d.culprit) == (True, "infrastructure",
                                                                "investigate_infrastructure", [pod]), d.summary
        assert "0 of 1 serving replicas ready on local" in d.summary and "killed by SIGKILL" in d.summary
        assert out.proposal_id is not None and "slo_status" in out.tools_called

        proposal = ctx.approvals.get(out.proposal_id).proposal
        assert proposal.kind == "investigate_infrastructure"
        assert (proposal.backend, proposal.replicas) == ("local", "0/1 replicas ready, 0 restart(s)")
        assert proposal.problems[0].startswith(f"{pod}: exited (process {pid} is gone: killed by SIGKILL")

        incident = ctx.incidents.get(out.incident_id)
        assert incident.category == "infrastructure" and incident.severity == "critical"
        assert pod in incident.summary

        assert out.postmortem is not None
        report = Path(out.postmortem).read_text()
        assert "Infrastructure: the serving replicas crashed" in report
        assert f"Serving workload: 0/1 replicas ready, 0 restart(s). {pod}: exited" in report
        assert report.count("0/1 replicas ready, 0 restart(s)") == 1  # said once, under Impact
        assert report.count(proposal.problems[0]) == 1  # the platform's words once, under Evidence
        assert "Do not retrain or roll back" in report

        done = runner.answer(out.proposal_id, Accept(by="on-call", via="cli"))
        assert done.status == "executed" and "platform owner was paged" in done.outcome, done
        assert "nothing was trained or deployed" in done.outcome
