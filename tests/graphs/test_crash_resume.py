"""Durable remediation: a process killed (SIGKILL, at a named fail-point) at each step of an approved retrain
leaves it executing; resuming finishes it with exactly one registered version, consistent routing and an audit
log that tells the story."""

from __future__ import annotations

import mlflow
import pytest
from crash_support import END, START, crash_at, filed, made_for
from world import canary_replay, make_ctx

from graphs.runner import GraphRunner
from ml_core.registry import PROPOSAL_TAG

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("point", ["after_training", "after_register", "after_canary_routed", "during_watch"])
def test_a_remediation_killed_at_each_step_resumes_and_acts_once(drift_world, point):
    p = filed(drift_world)
    before = {v.version for v in drift_world.registry.versions("churn")}
    crash_at(drift_world, p, point)
    ctx = make_ctx(drift_world.layout, canary_traffic=canary_replay(seed=32))
    assert ctx.approvals.get(p.id).status == "executing"  # stranded: the process died mid-way
    assert [r.id for r in ctx.approvals.stranded()] == [p.id]
    assert len(made_for(drift_world, p)) == (0 if point == "after_training" else 1)

    with GraphRunner(ctx) as runner:
        out = runner.resume(p.id, by="bob", via="test")
    assert out.status == "executed" and out.verified, out.outcome
    [version] = made_for(drift_world, p)  # exactly one version for the proposal, whatever step died
    assert {v.version for v in drift_world.registry.versions("churn")} - before == {version}
    live = drift_world.backend.status()
    assert (live.champion, live.canary) == (version, None)
    assert drift_world.registry.alias("churn", "champion").version == version
    routed_first = point in ("after_canary_routed", "during_watch")
    middle = ["routing_canary", "resumed"] if routed_first else ["resumed", "routing_canary"]
    assert [e.event for e in ctx.approvals.history(p.id)] == START + middle + END
    resumed = next(e for e in ctx.approvals.history(p.id) if e.event == "resumed")
    assert resumed.actor == "bob" and resumed.detail["at"] == ["execute"]
    assert ctx.approvals.get(p.id).status == "executed" and not ctx.approvals.stranded()
    if point == "after_training":  # the run the killed process left RUNNING is marked KILLED
        runs = mlflow.MlflowClient(drift_world.layout.tracking_uri).search_runs(
            [drift_world.registry.experiment_id()], filter_string=f"tags.`{PROPOSAL_TAG}` = '{p.id}'")
        assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED"]
