"""Drafting typed, costed proposals on a real home, and the proposal tools that file them."""

from __future__ import annotations

import json
import time

import pytest

from agent.context import OpsContext
from agent.diagnosis import Diagnosis, TriageSignals
from agent.drafting import (
    DraftError,
    draft_fix_data,
    draft_promote,
    draft_proposal,
    draft_retrain,
    draft_rollback,
    draft_threshold,
)
from agent.memory import Memory
from agent.proposals import Evidence, RetrainProposal
from agent.settings import Settings
from ml_core.evaluation import best_f1_threshold
from ml_core.predlog import PredictionLog
from ml_core.serving.state import DeploymentState, state_path, write_state
from tests.tools.tool_test_support import write_traffic
from tools.catalog import call_tool

REASON = "total_day_minutes drifted and realised F1 fell"


@pytest.fixture(scope="module")
def home(champion_home, churn_df):
    layout, registry, job = champion_home
    now = time.time() + 5
    write_traffic(layout, registry, churn_df, version=job.version, now=now)
    memory = Memory(layout.memory_dir)
    memory.record("incident", "churn v1: total_day_minutes drifted; realised F1 fell from 0.84 to 0.70",
                  model="churn", memory_id="incident-old")
    memory.record("outcome", "retrained churn v3 on the drifted window; gate passed; promoted after a healthy canary",
                  model="churn", memory_id="outcome-fixed", metadata={"incident": "incident-old", "fixed": True})
    memory.record("outcome", "retrained churn v2 on the drifted window; gate failed; not promoted", model="churn",
                  memory_id="outcome-failed", metadata={"incident": "incident-old", "fixed": False})
    return layout, registry, job, now


@pytest.fixture
def ctx(home):
    layout, registry, job, now = home
    write_state(state_path(layout, "churn"), DeploymentState(model="churn", champion=job.version))
    settings = Settings(home=layout.home, train_usd_per_hour=7.2, approval_ttl_minutes=30, tavily_api_key=None)
    return OpsContext(settings, clock=lambda: now)


def _route(ctx, **state):
    write_state(state_path(ctx.layout, "churn"), DeploymentState(model="churn", **state))


def _window(ctx):
    return {"window_since": ctx.clock() - 3600, "window_until": ctx.clock()}


def test_retrain_is_costed_from_the_champions_run(ctx, home):
    _, registry, job, now = home
    p = draft_retrain(ctx, "churn", reason=REASON, evidence=[Evidence(source="drift screen", detail="x")],
                      brain="offline policy", incident_id="inc-1", **_window(ctx))
    run = registry.client.get_run(job.run_id)
    took = (run.info.end_time - run.info.start_time) / 1000
    assert p.epochs == 6 and p.learning_rate == pytest.approx(5e-4)  # the champion's own config
    assert p.estimated_train_seconds == pytest.approx(took * (5000 + 300) / 5000, abs=0.06)  # rounded to 0.1 s
    assert p.estimated_cost_usd == pytest.approx(took * 5300 / 5000 / 3600 * 7.2, abs=6e-5)  # 4 decimals
    doubled = draft_retrain(ctx, "churn", reason=REASON, evidence=[], brain="b", epochs=12, **_window(ctx))
    assert doubled.estimated_train_seconds == pytest.approx(2 * p.estimated_train_seconds, abs=0.15)
    assert (p.champion_version, p.gate_metric, p.gate_min_gain) == ("1", "f1", 0.01)
    assert p.expires_at == now + 30 * 60 and p.brain == "offline policy" and p.incident_id == "inc-1"
    assert p.rollback_plan == "the canary is dropped; v1 stays champion"
    assert p.evidence[0].source == "drift screen" and any(e.source == f"mlflow run {job.run_id}" for e in p.evidence)


def test_expected_gain_cites_the_drop_and_only_fixes_that_worked(ctx):
    p = draft_retrain(ctx, "churn", reason=REASON, evidence=[], brain="b", **_window(ctx))
    assert "realised F1" in p.expected_gain and "on 300 labelled records" in p.expected_gain
    assert "outcome-fixed" in p.expected_gain and "outcome-failed" not in p.expected_gain
    assert any(e.source == "memory outcome-fixed" for e in p.evidence)
    quiet = draft_retrain(ctx, "churn", reason=REASON, evidence=[], brain="b", window_since=1.0, window_until=2.0)
    assert quiet.expected_gain.startswith("no measured drop") and quiet.estimated_train_seconds > 0


def test_rollback_targets_the_canary_then_the_previous_champion(ctx):
    with pytest.raises(DraftError, match="nothing to roll back"):
        draft_rollback(ctx, "churn", reason="slow", brain="b")
    _route(ctx, champion="1", canary="2", canary_weight=0.1)
    p = draft_rollback(ctx, "churn", reason="slow", brain="b")
    assert (p.bad_version, p.target_version, p.champion_version) == ("2", "1", "1")
    _route(ctx, champion="3", previous_champion="1")
    p = draft_rollback(ctx, "churn", reason="worse", brain="b")
    assert (p.bad_version, p.target_version) == ("3", "1")


def test_promote_needs_a_canary(ctx):
    with pytest.raises(DraftError, match="no canary"):
        draft_promote(ctx, "churn", reason="healthy", brain="b")
    _route(ctx, champion="1", canary="2", canary_weight=0.25)
    p = draft_promote(ctx, "churn", reason="healthy", brain="b")
    assert p.version == "2" and "25%" in p.title and "v1" in p.rollback_plan


def test_threshold_is_retuned_on_the_labelled_window(ctx, home):
    layout, registry, job, now = home
    p = draft_threshold(ctx, "churn", reason="label shift", brain="b", **_window(ctx))
    with PredictionLog(layout.predictions_db("churn")) as log:
        lab = log.labelled(now - 3600, now)
    assert p.proposed_threshold == best_f1_threshold(lab["actual"].to_numpy(), lab["score"].to_numpy())
    assert p.current_threshold == registry.load("churn", job.version).threshold and p.version == "1"
    assert "re-tuned on 300 labelled predictions of v1" in p.evidence[-1].detail and "F1 is" in p.evidence[-1].detail
    given = draft_threshold(ctx, "churn", proposed=0.3, reason="asked", brain="b")
    assert given.proposed_threshold == 0.3 and "requester" in given.rationale
    with pytest.raises(DraftError, match="between 0 and 1"):
        draft_threshold(ctx, "churn", proposed=1.5, reason="asked", brain="b")
    with pytest.raises(DraftError, match="wait for delayed labels"):
        draft_threshold(ctx, "churn", reason="x", brain="b", window_since=1.0, window_until=2.0)


def test_draft_proposal_maps_the_diagnosis(ctx):
    signals = TriageSignals(model="churn", **_window(ctx))
    ev = [Evidence(source="drift screen", detail="total_day_minutes")]
    none = Diagnosis(detected=False, summary="all fine")
    assert draft_proposal(ctx, signals, none, brain="offline policy") is None
    retrain = draft_proposal(ctx, signals, Diagnosis(detected=True, category="data_drift", action="retrain",
                                                     summary=REASON, evidence=ev), brain="llm x", incident_id="inc-9")
    assert isinstance(retrain, RetrainProposal) and retrain.evidence[0] == ev[0] and retrain.incident_id == "inc-9"
    assert retrain.window_since == signals.window_since and retrain.brain == "llm x"
    fix = draft_proposal(ctx, signals, Diagnosis(detected=True, category="data_quality", action="fix_data",
                                                 culprit=["total_eve_charge"], summary="feed sends nulls"), brain="b")
    assert fix is not None and fix.kind == "fix_data" and fix.features == ["total_eve_charge"]
    said: list[str] = []
    quiet = OpsContext(ctx.settings, clock=ctx.clock, progress=said.append)
    impossible = Diagnosis(detected=True, category="bad_release", action="rollback", summary="slow release")
    assert draft_proposal(quiet, signals, impossible, brain="b") is None
    assert said and said[0].startswith("no rollback proposal: nothing to roll back")
    direct = draft_fix_data(ctx, "churn", features=[], problem="schema break", brain="b")
    assert direct.champion_version == "1" and "rejected fields" in direct.title


def test_unknown_model_is_refused(ctx):
    with pytest.raises(DraftError, match="unknown model 'fraud'; registered models: churn"):
        draft_rollback(ctx, "fraud", reason="x", brain="b")


def test_proposal_tools_file_through_the_hook_or_return_a_draft(ctx):
    filed = []
    hooked = OpsContext(ctx.settings, clock=ctx.clock, file_proposal=lambda p: filed.append(p) or f"filed {p.id}")
    out = json.loads(call_tool(hooked, "propose_retrain", {"model": "churn", "reason": REASON, "epochs": 3}))
    (proposal,) = filed
    assert out["filed"] and out["proposal_id"] == proposal.id and out["message"] == f"filed {proposal.id}"
    assert proposal.epochs == 3 and out["title"] == proposal.title and "$" in out["summary"]
    draft = json.loads(call_tool(ctx, "propose_threshold", {"model": "churn", "reason": "shift", "threshold": 0.4}))
    assert draft["filed"] is False and draft["kind"] == "retune_threshold" and "0.40" in draft["summary"]
    assert "no canary" in json.loads(call_tool(hooked, "propose_promote", {"model": "churn", "reason": "x"}))["error"]
    assert "reason is empty" in json.loads(call_tool(hooked, "propose_rollback", {"model": "churn", "reason": ""}))[
        "error"]
    assert "epochs" in json.loads(call_tool(ctx, "propose_retrain", {"model": "churn", "reason": "x",
                                                                      "epochs": 0}))["error"]
    assert len(filed) == 1
