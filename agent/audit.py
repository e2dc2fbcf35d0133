"""The append-only audit log: who did what to which proposal, when, and from which interface.

It lives in the approvals SQLite file (``OPSAGENT_HOME/approvals.db``). Append-only is enforced by the
database itself: triggers abort any UPDATE or DELETE on the table, whoever issues it. This module also
holds the small SQLite handle the approvals and incident stores share: WAL, a busy timeout (the CLI and
the scheduler may open the file at once), one connection per object guarded by a lock (web, Slack and
scheduler threads share objects), and short ``BEGIN IMMEDIATE`` write transactions.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

BUSY_TIMEOUT_S = 30.0

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    proposal_id TEXT,
    actor TEXT NOT NULL,
    via TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'   -- JSON object
);
CREATE INDEX IF NOT EXISTS audit_proposal ON audit(proposal_id, seq);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be changed'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: entries cannot be deleted'); END;
"""


class Db:
    """One SQLite connection to one file, shared by threads through a re-entrant lock."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        # isolation_level=None: we open transactions ourselves, so a write takes the file lock up front
        # (BEGIN IMMEDIATE) instead of upgrading a read lock mid-transaction, which can fail with "locked".
        self.conn = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def schema(self, sql: str) -> None:
        """Create tables, indexes and triggers (idempotent, one transaction)."""
        with self.write() as conn:
            for statement in _statements(sql):
                conn.execute(statement)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction: committed on success, rolled back on any error."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _statements(sql: str) -> list[str]:
    """Split a schema script into statements (``executescript`` would commit our transaction)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


def to_json(data: Any) -> str:
    """JSON for the database; values JSON cannot hold (paths, numpy scalars) are written as text."""
    return json.dumps(data, default=str, sort_keys=True)


class AuditEntry(BaseModel):
    """One line of the audit log."""

    seq: int = Field(description="order of writing, strictly increasing")
    at: float = Field(description="unix time")
    event: str = Field(description="proposed, accepted, edited, responded, ignored, rejected, expired, refused, "
                                   "executing, executed, failed, verified, rolled_back, denied, ...")
    proposal_id: str | None = None
    actor: str = Field(description="who: a user name, or 'opsagent' for the agent itself")
    via: str = Field(description="interface: cli, web, slack, scheduler, demo, chat, test")
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditLog:
    """Append and read audit entries. ``AuditLog(path)`` opens its own connection; the approvals store passes
    its own ``db`` so a status change and its audit entry commit in one transaction."""

    def __init__(self, path: Path, *, db: Db | None = None, clock: Callable[[], float] = time.time):
        self.db = db or Db(path)
        self.clock = clock
        self.db.schema(AUDIT_SCHEMA)

    def append(self, event: str, *, actor: str, via: str, proposal_id: str | None = None,
               detail: dict[str, Any] | None = None) -> AuditEntry:
        """Write one entry and return it with its sequence number."""
        with self.db.write() as conn:
            return self.insert(conn, event, actor=actor, via=via, proposal_id=proposal_id, detail=detail)

    def insert(self, conn: sqlite3.Connection, event: str, *, actor: str, via: str, proposal_id: str | None = None,
               detail: dict[str, Any] | None = None) -> AuditEntry:
        """Write one entry inside the caller's open transaction (for stores that change state and audit it)."""
        if not event or not actor or not via:
            raise ValueError("an audit entry needs an event, an actor and an interface (via)")
        at = self.clock()
        body = to_json(detail or {})
        cur = conn.execute("INSERT INTO audit (at, event, proposal_id, actor, via, detail) VALUES (?, ?, ?, ?, ?, ?)",
                           (at, event, proposal_id, actor, via, body))
        return AuditEntry(seq=int(cur.lastrowid or 0), at=at, event=event, proposal_id=proposal_id, actor=actor,
                          via=via, detail=json.loads(body))

    def entries(self, proposal_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Entries oldest first; only one proposal's with ``proposal_id``; only the latest ``limit``."""
        where, params = ("WHERE proposal_id = ?", (proposal_id,)) if proposal_id is not None else ("", ())
        sql = f"SELECT * FROM audit {where} ORDER BY seq DESC"
        if limit is not None:
            sql += f" LIMIT {max(int(limit), 0)}"
        rows = self.db.read(sql, params)
        return [AuditEntry(seq=r["seq"], at=r["at"], event=r["event"], proposal_id=r["proposal_id"], actor=r["actor"],
                           via=r["via"], detail=json.loads(r["detail"])) for r in reversed(rows)]
