"""A newer proposal superseding the incident's pending one is an event of its post-mortem: filed through the real
inbox (SQLite approvals, a paused remediation thread), the document's Resolution, Action items and Timeline show the
old proposal superseded by the new id and point the open items at the new one."""

from __future__ import annotations

import re
import time

import pytest
from world import make_ctx

from agent.diagnosis import DeploySnapshot, Diagnosis, TriageSignals
from agent.proposals import FixDataProposal, Proposal, RetrainProposal
from agent.reports import build_postmortem, load_postmortem, save_postmortem
from evals.postmortem_rubric import PostmortemExpectation, score_postmortem
from graphs.runner import GraphRunner
from ml_core.paths import HomeLayout

NOW = time.time()


@pytest.fixture
def runner(tmp_path):
    with GraphRunner(make_ctx(HomeLayout(tmp_path / "home").ensure())) as r:
        yield r


def _retrain() -> RetrainProposal:
    return RetrainProposal(model="churn", title="Retrain churn", rationale="drift", champion_version="1",
                           expires_at=NOW + 3600, brain="offline policy", incident_id="inc-1",
                           window_since=NOW - 600, window_until=NOW, estimated_train_seconds=60)


def _fix() -> FixDataProposal:
    return FixDataProposal(model="churn", title="Fix the feed", rationale="nulls", champion_version="1",
                           expires_at=NOW + 3600, brain="offline policy", incident_id="inc-1",
                           features=["total_day_minutes"], problem="null")


def _write(runner, proposal: Proposal) -> None:
    """The post-mortem triage writes for ``proposal`` (graphs.writing: written before the proposal is filed)."""
    signals = TriageSignals(model="churn", window_since=NOW - 600, window_until=NOW, n_predictions=500,
                            deploy=DeploySnapshot(champion="1"))
    diagnosis = Diagnosis(detected=True, category="data_drift", culprit=["total_day_minutes"], action="retrain",
                          summary="total_day_minutes moved")
    save_postmortem(runner.ctx.layout, build_postmortem(signals, diagnosis, proposal, incident_id="inc-1",
                                                        timeline=[], usage="no LLM calls", now=NOW))


def _section(md: str, name: str) -> str:
    return md.split(f"## {name}\n")[1].split("\n## ")[0].strip()


def _open_items(md: str) -> list[str]:
    return re.findall(r"^- \[ \] (.*)$", _section(md, "Action items"), re.M)


def test_a_superseded_proposal_is_rewritten_into_the_postmortem(runner):
    first, fix = _retrain(), _fix()
    _write(runner, first)
    runner.file_proposal(first)
    runner.file_proposal(fix)
    assert runner.ctx.approvals.get(first.id).status == "superseded"

    md = (runner.ctx.layout.reports_dir / "inc-1" / "postmortem.md").read_text()
    assert md.startswith("# churn: data drift in total_day_minutes (fix_data proposed)\n")
    assert f"Proposal {first.id} was superseded by {fix.id}." in _section(md, "Resolution")
    assert _section(md, "Resolution").startswith(f"Open — proposal {fix.id} [fix_data]")
    # nothing asks about the old one any more: neither its review nor its canary watch (which names no id)
    assert not any(first.id in item or "watch the canary" in item for item in _open_items(md))
    assert any(item.startswith(f"Acknowledge proposal {fix.id}") for item in _open_items(md))
    assert re.search(rf"^- \S+ — proposal {first.id} superseded by {fix.id}: incident inc-1 now proposes a fix_data$",
                     _section(md, "Timeline"), re.M)
    pm = load_postmortem(runner.ctx.layout.reports_dir / "inc-1")
    assert pm.superseded == {first.id: fix.id} and (pm.proposal_id, pm.proposal_kind) == (fix.id, "fix_data")
    assert not any(d.endswith(f"proposal {first.id} filed, awaiting approval") for d in pm.decisions)
    assert f"proposal {fix.id} filed, awaiting approval" in pm.decisions
    # the rubric's "action items current" holds for the pending successor
    expected = PostmortemExpectation(category="data_drift", action="retrain", culprit=["total_day_minutes"],
                                     outcome="pending", proposal_id=fix.id)
    assert [c.ok for c in score_postmortem(md, expected).checks if c.name == "action items current"] == [True]


def test_a_postmortem_already_written_for_the_successor_gets_no_second_copy_of_its_items(runner):
    first, fix = _retrain(), _fix()
    runner.file_proposal(first)
    _write(runner, fix)  # triage rewrote the document for the new proposal before filing it
    before = load_postmortem(runner.ctx.layout.reports_dir / "inc-1").action_items
    runner.file_proposal(fix)
    pm = load_postmortem(runner.ctx.layout.reports_dir / "inc-1")
    assert [i.text for i in pm.action_items] == [i.text for i in before]
    assert pm.superseded == {first.id: fix.id}
    assert f"Proposal {first.id} was superseded by {fix.id}." in pm.resolution
