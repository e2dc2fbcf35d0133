"""Approvals through the remediation graph: restart and resume, expiry, changed preconditions, respond,
reject, and an edit that changes what is executed. Nothing runs without a person's answer."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from world import make_ctx

from agent.audit import DEPLOY_OVERRIDE
from agent.proposals import Accept, Edit, FixDataProposal, Ignore, Respond, RetrainProposal, ThresholdProposal
from graphs.runner import GraphRunner
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.simulator.scenario import load_scenario
from ml_core.simulator.traffic import run_traffic

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def retrain_proposal(world, **fields) -> RetrainProposal:
    base = dict(model="churn", title="retrain churn on the drifted window", rationale="day minutes drifted",
                champion_version=world.champion, expires_at=time.time() + 3600, brain="offline policy",
                window_since=world.drift_since, window_until=time.time() + 1, epochs=3, seed=3)
    return RetrainProposal(**{**base, **fields})


def fix_data_proposal(world) -> FixDataProposal:
    return FixDataProposal(model="churn", title="fix the feed", rationale="nulls", champion_version=world.champion,
                           expires_at=time.time() + 3600, brain="offline policy", features=["x"], problem="nulls")


def versions(world) -> list[str]:
    return sorted(v.version for v in world.registry.versions("churn"))


def test_pending_approval_survives_a_process_restart_and_resumes(drift_world):
    code = (
        "import time\n"
        "from agent.context import OpsContext\nfrom agent.settings import Settings\n"
        "from agent.proposals import FixDataProposal\nfrom graphs.runner import GraphRunner\n"
        f"ctx = OpsContext(Settings(home={str(drift_world.layout.home)!r}), via='test', actor='first-process')\n"
        "with GraphRunner(ctx) as r:\n"
        "    p = FixDataProposal(model='churn', title='fix the billing feed', rationale='nulls',"
        f" champion_version={drift_world.champion!r}, expires_at=time.time() + 3600, brain='offline policy',"
        " features=['total_eve_charge'], problem='empty evening charges')\n"
        "    r.file_proposal(p)\n    print(p.id)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    proposal_id = done.stdout.strip().splitlines()[-1]
    ctx = make_ctx(drift_world.layout)
    with GraphRunner(ctx) as runner:  # a new process: only the SQLite checkpoint knows the paused thread
        request = runner.pending_request(proposal_id)
        assert request is not None and request["action_request"]["action"] == "fix_data"
        out = runner.answer(proposal_id, Accept(by="alice", via="test"))
    assert out.status == "executed" and "upstream feed" in out.outcome
    events = [e.event for e in ctx.approvals.audit.entries(proposal_id=proposal_id)]
    # A data fix is acknowledged, not deployed: it executes, and nothing live can verify it.
    assert events == ["proposed", "answered-accept", "accepted", "executing", "executed", "not_verified"]


def test_checkpointed_state_comes_back_typed(drift_world):
    with GraphRunner(make_ctx(drift_world.layout)) as runner:
        p = fix_data_proposal(drift_world)
        runner.file_proposal(p)
    with GraphRunner(make_ctx(drift_world.layout)) as again:  # a new checkpointer connection reads it back
        state = again.remediation_graph.get_state({"configurable": {"thread_id": p.id}}).values
    assert isinstance(state["proposal"], FixDataProposal) and state["proposal"] == p


def test_a_thread_checkpointed_with_json_state_still_resumes(drift_world):
    """Threads paused before state was typed hold the proposal as JSON: they still resume and execute."""
    ctx = make_ctx(drift_world.layout)
    with GraphRunner(ctx) as runner:
        p = fix_data_proposal(drift_world)
        ctx.approvals.add(p, thread_id=p.id, source="test", actor="old-version")
        runner.remediation_graph.invoke({"proposal": p.model_dump(mode="json"), "source": "test"},
                                        {"configurable": {"thread_id": p.id}}, context=ctx)
        out = runner.answer(p.id, Accept(by="alice", via="test"))
    assert out.status == "executed" and "upstream feed" in out.outcome


def test_expired_approval_is_refused_and_nothing_runs(drift_world):
    before = versions(drift_world)
    with GraphRunner(make_ctx(drift_world.layout)) as runner:
        p = retrain_proposal(drift_world, expires_at=time.time() + 60)
        runner.file_proposal(p)
    later = make_ctx(drift_world.layout, clock=lambda: time.time() + 3600)
    with GraphRunner(later) as runner:
        out = runner.answer(p.id, Accept(by="bob", via="test"))
    assert out.status == "refused" and "expired" in out.outcome
    assert later.approvals.get(p.id).status == "expired"
    assert versions(drift_world) == before


def test_proposal_whose_champion_changed_is_refused(drift_world):
    before = versions(drift_world)
    ctx = make_ctx(drift_world.layout)
    with GraphRunner(ctx) as runner:
        p = retrain_proposal(drift_world, champion_version="999")  # proposed when v999 was champion
        runner.file_proposal(p)
        out = runner.answer(p.id, Accept(by="bob", via="test"))
    assert out.status == "refused" and "champion changed" in out.outcome
    assert ctx.approvals.get(p.id).status == "refused"
    assert versions(drift_world) == before


def test_a_retrain_waiting_for_labels_is_refused_until_they_arrive(drift_world):
    before = versions(drift_world)
    ctx = make_ctx(drift_world.layout)
    with ctx.prediction_log("churn") as log:
        have = len(log.labelled(drift_world.drift_since, time.time() + 1))
    with GraphRunner(ctx) as runner:
        p = retrain_proposal(drift_world, min_labels=have + 1)  # proposed before the labels confirmed the harm
        runner.file_proposal(p)
        out = runner.answer(p.id, Accept(by="bob", via="test"))
    assert out.status == "refused" and f"{have} of {have + 1} have arrived" in out.outcome
    assert "min_labels=0" in out.outcome and ctx.approvals.get(p.id).status == "refused"
    assert versions(drift_world) == before


def test_respond_revises_the_proposal_and_asks_again(drift_world):
    ctx = make_ctx(drift_world.layout)
    with GraphRunner(ctx) as runner:
        p = retrain_proposal(drift_world)
        runner.file_proposal(p)
        out = runner.answer(p.id, Respond(args="use 12 epochs on the last 20 minutes",
                                                by="carol", via="test"))
        request = runner.pending_request(p.id)
    assert out.status == "pending"
    revised = ctx.approvals.get(p.id).proposal
    assert revised.epochs == 12 and revised.window_since == pytest.approx(time.time() - 1200, abs=120)
    assert request is not None and request["action_request"]["args"]["epochs"] == 12


def test_reject_executes_nothing_and_is_remembered(drift_world):
    before = versions(drift_world)
    ctx = make_ctx(drift_world.layout)
    with GraphRunner(ctx) as runner:
        p = retrain_proposal(drift_world)
        runner.file_proposal(p)
        out = runner.answer(p.id, Ignore(args="not during the sale", by="dave", via="test"))
    assert out.status == "rejected" and ctx.approvals.get(p.id).status == "rejected"
    assert versions(drift_world) == before
    hits = ctx.memory.search("rejected not during the sale", kind="decision", model="churn")
    assert any(p.id in h.text for h in hits)


def test_an_edit_changes_what_is_executed(drift_world, churn_df):
    """Last in the module: it retrains, deploys a canary and promotes or rolls back."""
    pool = split_frame(churn_df, CHURN_SCHEMA).test
    scenario = load_scenario("covariate_drift").model_copy(update={"requests": 60, "seed": 21})

    def canary_traffic(url: str, _seconds: float) -> None:
        run_traffic(url, scenario, pool, schema=CHURN_SCHEMA)

    ctx = make_ctx(drift_world.layout, canary_traffic=canary_traffic)
    before = versions(drift_world)
    with GraphRunner(ctx) as runner:
        p = retrain_proposal(drift_world, epochs=40)
        runner.file_proposal(p)
        out = runner.answer(p.id, Edit(args={"epochs": 2, "seed": 5}, by="erin", via="test"))
    assert out.status == "executed", out.outcome
    new = out.result["version"]
    assert new not in before
    run_id = drift_world.registry.version("churn", new).run_id
    run = mlflow.MlflowClient(drift_world.layout.tracking_uri).get_run(run_id)
    assert run.data.params["epochs"] == "2" and run.data.params["seed"] == "5"  # the edited values ran
    edited = [e for e in ctx.approvals.audit.entries(proposal_id=p.id) if e.event == "edited"]
    assert edited and edited[0].detail["changes"] == {"epochs": 2, "seed": 5}


def test_an_accepted_threshold_is_routed_past_the_deploy_gate_and_audited(drift_world, churn_df):
    """Last in the module: its canary may be promoted. No gate judges a new threshold (it is chosen for traffic
    the held-out rows no longer represent), so the accepted proposal is the override: forced, recorded, audited."""
    pool = split_frame(churn_df, CHURN_SCHEMA).test
    scenario = load_scenario("covariate_drift").model_copy(update={"requests": 40, "seed": 23})
    ctx = make_ctx(drift_world.layout, canary_traffic=lambda url, _s: run_traffic(url, scenario, pool,
                                                                                    schema=CHURN_SCHEMA))
    champion = drift_world.backend.status().champion
    current = drift_world.registry.load("churn", champion).threshold
    p = ThresholdProposal(model="churn", title="retune the threshold", rationale="label shift", brain="offline policy",
                          champion_version=champion, expires_at=time.time() + 3600, version=champion,
                          current_threshold=current, proposed_threshold=min(0.9, current + 0.05), canary_weight=0.5)
    with GraphRunner(ctx) as runner:
        runner.file_proposal(p)
        out = runner.answer(p.id, Accept(by="frank", via="test"))
    assert out.status == "executed", out.outcome
    new = out.result["version"]
    assert not drift_world.registry.version("churn", new).ready_for_deploy  # it was not gated, and is not now
    [audited] = [e for e in ctx.approvals.audit.entries(proposal_id=p.id) if e.event == DEPLOY_OVERRIDE]
    assert audited.detail["version"] == new and audited.detail["route"] == "canary"
    assert f"threshold proposal {p.id} accepted" in audited.detail["reason"]
    recorded = [o for o in drift_world.backend.status().overrides if o.version == new]
    assert len(recorded) == 1 and recorded[0].reason == audited.detail["reason"]
