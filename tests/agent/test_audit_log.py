"""The audit log on a real SQLite file and a real PostgreSQL: append, read back, append-only triggers,
concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager

import pytest

from agent.audit import AuditLog
from ml_core.store_engine import driver_url


@pytest.fixture
def db_path(db_target):
    return db_target("approvals.db")  # a SQLite file, or the approvals schema of a PostgreSQL database


def test_append_and_read_back_in_order(db_path):
    log = AuditLog(db_path)
    first = log.append("proposed", actor="opsagent", via="scheduler", proposal_id="prop-1",
                       detail={"kind": "retrain", "path": db_path})
    log.append("accepted", actor="alice", via="slack", proposal_id="prop-1")
    log.append("denied", actor="mallory", via="web", proposal_id="prop-2", detail={"reason": "not an approver"})
    assert first.seq >= 1 and first.detail == {"kind": "retrain", "path": str(db_path)}

    every = log.entries()
    assert [e.event for e in every] == ["proposed", "accepted", "denied"]
    assert [e.seq for e in every] == sorted(e.seq for e in every)
    assert [(e.actor, e.via) for e in log.entries("prop-1")] == [("opsagent", "scheduler"), ("alice", "slack")]
    assert [e.event for e in log.entries(limit=2)] == ["accepted", "denied"]
    assert AuditLog(db_path).entries("prop-2")[0].detail == {"reason": "not an approver"}  # persisted


def test_entry_needs_actor_and_interface(db_path):
    with pytest.raises(ValueError, match="actor"):
        AuditLog(db_path).append("accepted", actor="", via="cli")


def test_direct_sql_cannot_change_or_delete_entries(db_path):
    log = AuditLog(db_path)
    log.append("accepted", actor="alice", via="cli", proposal_id="prop-1")
    before = log.entries()

    # a separate connection of the database's own driver, as any other program would open it
    for statement in ("UPDATE audit SET actor = 'mallory' WHERE proposal_id = 'prop-1'", "DELETE FROM audit"):
        with raw_connection(db_path) as raw, pytest.raises(Exception, match="append-only") as refused:
            raw.execute(statement)
        assert type(refused.value).__module__.split(".")[0] in ("sqlite3", "psycopg")  # the database said no

    assert log.entries() == before
    assert AuditLog(db_path).entries()[0].actor == "alice"


@contextmanager
def raw_connection(target):
    """sqlite3 on the file, or psycopg on the schema: no SQLAlchemy, no opsagent code in between."""
    if isinstance(target, str):
        import psycopg

        conninfo, schema = driver_url(target)
        with psycopg.connect(conninfo, options=f"-c search_path={schema}") as conn:
            yield conn
        return
    conn = sqlite3.connect(target)
    try:
        yield conn
    finally:
        conn.rollback()
        conn.close()


def test_concurrent_writers_lose_nothing(db_path):
    shared = AuditLog(db_path)
    per_thread = 100

    def write(log: AuditLog, name: str) -> None:
        for i in range(per_thread):
            log.append("noted", actor=name, via="test", detail={"i": i})

    # Two threads on one object (one connection, the lock) and one on its own connection (busy timeout).
    threads = [threading.Thread(target=write, args=(shared, "a")),
               threading.Thread(target=write, args=(shared, "b")),
               threading.Thread(target=write, args=(AuditLog(db_path), "c"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    entries = AuditLog(db_path).entries()
    assert len(entries) == 3 * per_thread
    assert len({e.seq for e in entries}) == len(entries)
    for name in "abc":
        assert [e.detail["i"] for e in entries if e.actor == name] == list(range(per_thread))
