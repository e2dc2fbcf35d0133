"""One rule for where a remediation left its incident: the incident store (`opsagent incidents`) and the post-mortem's
status line say the same word after every outcome, recorded through the real stores (approvals and incidents in
SQLite, the post-mortem files, memory in ChromaDB)."""

from __future__ import annotations

import re
import time

import pytest
from world import make_ctx

from agent.diagnosis import DeploySnapshot, Diagnosis, TriageSignals
from agent.incidents import ACTIVE, IncidentRecord
from agent.proposals import Accept, Ignore, Proposal, RetrainProposal, RollbackProposal
from agent.remediation_status import remediation_status
from agent.reports import build_postmortem, save_postmortem
from graphs.outcome import record_outcome
from ml_core.paths import HomeLayout

NOW = time.time()


def _proposal(kind: str, incident: str) -> Proposal:
    common = dict(model="churn", title=f"{kind} churn", rationale="test", champion_version="1",
                  expires_at=NOW + 3600, brain="offline policy", incident_id=incident)
    if kind == "rollback":
        return RollbackProposal(**common, bad_version="2", target_version="1")
    return RetrainProposal(**common, window_since=NOW - 600, window_until=NOW, estimated_train_seconds=60)


def _postmortem(ctx, p: Proposal) -> None:
    signals = TriageSignals(model="churn", window_since=NOW - 600, window_until=NOW, n_predictions=100,
                            deploy=DeploySnapshot(champion="1"))
    category, action = ("bad_release", "rollback") if p.kind == "rollback" else ("data_drift", "retrain")
    diagnosis = Diagnosis(detected=True, category=category, action=action, summary="test incident")
    save_postmortem(ctx.layout, build_postmortem(signals, diagnosis, p, incident_id=p.incident_id or "",
                                                 timeline=[], usage="no LLM calls", now=NOW))


def _status_line(ctx, incident_id: str) -> str:
    md = (ctx.layout.reports_dir / incident_id / "postmortem.md").read_text()
    return re.search(r"^\*\*Status:\*\* (.+)$", md, re.M).group(1)  # type: ignore[union-attr]


# (outcome, proposal kind, the state remediation ended in, the approvals record before the outcome, expected)
OUTCOMES = [
    ("retrain verified", "retrain", {"status": "executed", "verified": True, "outcome": "v2 promoted and verified"},
     "executing", "resolved"),
    ("rollback verified", "rollback", {"status": "executed", "verified": True, "outcome": "v2 rolled back"},
     "executing", "mitigated"),
    ("rejected", "retrain", {"status": "rejected", "outcome": "rejected by bo via cli: not now; nothing executed"},
     "rejected", "won't fix"),
    ("expired", "retrain", {"status": "refused", "outcome": "refused: the approval expired 5 min before ana answered"},
     "expired", "open"),
    ("failed", "retrain", {"status": "failed", "outcome": "training failed: out of memory"}, "executing", "open"),
]


@pytest.mark.parametrize(("name", "kind", "state", "before", "expected"), OUTCOMES, ids=[o[0] for o in OUTCOMES])
def test_the_incident_and_its_postmortem_say_the_same_status_after_each_outcome(tmp_path, name, kind, state,
                                                                                 before, expected):
    ctx = make_ctx(HomeLayout(tmp_path / "home").ensure())
    incident = ctx.incidents.open("churn", status="proposed", category="data_drift", action=kind)
    p = _proposal(kind, incident.id)
    ctx.incidents.update(incident.id, proposal_id=p.id)
    ctx.approvals.add(p, thread_id=p.id, source="test", actor="tester")
    path = {"executing": ["accepted", "executing"], "rejected": ["rejected"], "expired": ["expired"]}[before]
    for status in path:
        ctx.approvals.set_status(p.id, status, actor="ana", via="cli")  # type: ignore[arg-type]
    _postmortem(ctx, p)
    answer = Ignore(args="not now", by="bo", via="cli") if before == "rejected" else Accept(by="ana", via="cli")

    record_outcome(ctx, p, answer, state)  # type: ignore[arg-type]

    stored = ctx.incidents.get(incident.id)
    assert (stored.status, _status_line(ctx, incident.id)) == (expected, expected)
    # a rejected fix leaves the fault: the incident stays watched; a verified fix of the cause is final
    assert stored.is_active == (expected != "resolved")
    assert (stored.resolved_at is not None) == (expected == "resolved")


def test_the_rule_itself():
    assert remediation_status("retrain", verified=True) == "resolved"
    assert remediation_status("retune_threshold", verified=True) == "resolved"
    assert remediation_status("rollback", verified=True) == "mitigated"
    assert remediation_status("retrain", verified=True, rejected=True) == "won't fix"
    assert remediation_status("rollback", rejected=True, cleared=True) == "resolved"  # its signals cleared
    assert remediation_status("retrain") == "open"


def test_stored_old_statuses_still_read():
    # homes written before the rule hold "mitigated" after a verified fix, and "closed"
    for old in ("mitigated", "closed"):
        record = IncidentRecord.model_validate({"model": "churn", "opened_at": 1.0, "updated_at": 1.0, "status": old})
        assert record.status == old
    assert "mitigated" in ACTIVE and "won't fix" in ACTIVE and "resolved" not in ACTIVE
