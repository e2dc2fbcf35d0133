"""The approvals file across the move to the store module: a file the raw-sqlite code wrote still works,
and a status change and its audit entry still commit (or roll back) together."""

from __future__ import annotations

import json
import sqlite3

import pytest

from agent.approvals import ApprovalStore
from agent.audit import AuditLog
from agent.incidents import IncidentStore
from agent.proposals import RetrainProposal

# The CREATE statements of agent/approvals.py, agent/audit.py and agent/incidents.py before the store module.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, thread_id TEXT,
    source TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL, expires_at REAL NOT NULL,
    decided_by TEXT, decided_via TEXT, decision TEXT, outcome TEXT NOT NULL DEFAULT '', body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS proposals_status ON proposals(status, expires_at);
CREATE INDEX IF NOT EXISTS proposals_model ON proposals(model, created_at);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, event TEXT NOT NULL, proposal_id TEXT,
    actor TEXT NOT NULL, via TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_proposal ON audit(proposal_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be deleted'); END;
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY, model TEXT NOT NULL, opened_at REAL NOT NULL, status TEXT NOT NULL, proposal_id TEXT,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_model ON incidents(model, opened_at);
CREATE INDEX IF NOT EXISTS incidents_proposal ON incidents(proposal_id);
"""


def retrain(pid: str) -> RetrainProposal:
    return RetrainProposal(id=pid, model="churn", title="Retrain churn", rationale="drift", champion_version="1",
                           expires_at=10_000.0, brain="offline policy", window_since=0.0, window_until=100.0)


def old_approvals_file(path, proposal: RetrainProposal) -> None:
    """An approvals.db as the raw-sqlite code left it: one pending proposal, its audit entry, one incident."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_SCHEMA)
    conn.execute("INSERT INTO proposals (id, model, kind, status, thread_id, source, created_at, updated_at, "
                 "expires_at, body) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                 (proposal.id, proposal.model, proposal.kind, "t-1", "scheduler", 50.0, 50.0, proposal.expires_at,
                  proposal.model_dump_json()))
    conn.execute("INSERT INTO audit (at, event, proposal_id, actor, via, detail) VALUES (?, ?, ?, ?, ?, ?)",
                 (50.0, "proposed", proposal.id, "opsagent", "scheduler", json.dumps({"kind": "retrain"})))
    conn.execute("INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?)",
                 ("inc-old", "churn", 40.0, "proposed", proposal.id,
                  json.dumps({"id": "inc-old", "model": "churn", "opened_at": 40.0, "status": "proposed",
                              "proposal_id": proposal.id, "updated_at": 40.0})))
    conn.close()


def test_an_approvals_file_written_by_the_old_code_reads_and_moves_on(tmp_path):
    path = tmp_path / "approvals.db"
    proposal = retrain("prop-old")
    old_approvals_file(path, proposal)
    with ApprovalStore(path, clock=lambda: 60.0) as store, IncidentStore(path) as incidents:
        record = store.get("prop-o")
        assert (record.status, record.thread_id, record.source, record.outcome) == ("pending", "t-1", "scheduler", "")
        assert record.proposal == proposal
        assert incidents.for_proposal("prop-old").id == "inc-old"  # type: ignore[union-attr]

        store.set_status("prop-old", "accepted", actor="alice", via="web")
        assert [(e.seq, e.event, e.actor) for e in store.history("prop-old")] == [(1, "proposed", "opsagent"),
                                                                                   (2, "accepted", "alice")]
        assert store.get("prop-old").decision == "accept"

    raw = sqlite3.connect(path)  # the old triggers still guard the log
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM audit")
    raw.close()


def test_a_status_change_whose_audit_entry_fails_is_rolled_back_with_it(tmp_path):
    path = tmp_path / "approvals.db"
    store = ApprovalStore(path)
    store.add(retrain("prop-1"), thread_id=None, source="cli", actor="a")
    with pytest.raises(ValueError, match="actor"):
        store.set_status("prop-1", "accepted", actor="", via="cli")  # the UPDATE runs, then the audit insert raises
    assert store.get("prop-1").status == "pending"
    assert [e.event for e in AuditLog(path).entries("prop-1")] == ["proposed"]
