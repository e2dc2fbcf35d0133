"""The append-only audit log: who did what to which proposal, when, and from which interface.

It lives in the approvals database (``OPSAGENT_HOME/approvals.db``), opened through ``ml_core.store``.
Append-only is enforced by the database itself: triggers abort any UPDATE or DELETE on the table, whoever
issues it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection

from ml_core.serving.state import GateOverride
from ml_core.store import Handle, Store, append_only

DEPLOY_OVERRIDE = "deploy_override"  # a version routed although the evaluation gate had not passed it

metadata = sa.MetaData()
audit_table = append_only(sa.Table(
    "audit", metadata,
    sa.Column("seq", sa.Integer, primary_key=True),  # AUTOINCREMENT: a seq is never reused
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("proposal_id", sa.Text),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("via", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),  # JSON object
    sa.Index("audit_proposal", "proposal_id", "seq"),
    sqlite_autoincrement=True,
))


def to_json(data: Any) -> str:
    """JSON for the database; values JSON cannot hold (paths, numpy scalars) are written as text."""
    return json.dumps(data, default=str, sort_keys=True)


class AuditEntry(BaseModel):
    """One line of the audit log."""

    seq: int = Field(description="order of writing, strictly increasing")
    at: float = Field(description="unix time")
    event: str = Field(description="proposed, accepted, edited, responded, ignored, rejected, expired, refused, "
                                   "executing, executed, failed, verified, rolled_back, denied, deploy_override, ...")
    proposal_id: str | None = None
    actor: str = Field(description="who: a user name, or 'opsagent' for the agent itself")
    via: str = Field(description="interface: cli, web, slack, scheduler, demo, chat, test")
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditLog(Handle):
    """Append and read audit entries. ``AuditLog(path)`` opens its own store; the approvals store passes
    its own ``store`` (opened with this module's ``metadata``) so a status change and its audit entry
    commit in one transaction."""

    def __init__(self, path: Path | str, *, store: Store | None = None, clock: Callable[[], float] = time.time):
        self.store = store or Store(path, metadata)
        self.clock = clock

    def append(self, event: str, *, actor: str, via: str, proposal_id: str | None = None,
               detail: dict[str, Any] | None = None) -> AuditEntry:
        """Write one entry and return it with its sequence number."""
        with self.store.write() as conn:
            return self.insert(conn, event, actor=actor, via=via, proposal_id=proposal_id, detail=detail)

    def insert(self, conn: Connection, event: str, *, actor: str, via: str, proposal_id: str | None = None,
               detail: dict[str, Any] | None = None) -> AuditEntry:
        """Write one entry inside the caller's open transaction (for stores that change state and audit it)."""
        if not event or not actor or not via:
            raise ValueError("an audit entry needs an event, an actor and an interface (via)")
        at = self.clock()
        body = to_json(detail or {})
        key = conn.execute(audit_table.insert().values(at=at, event=event, proposal_id=proposal_id, actor=actor,
                                                       via=via, detail=body)).inserted_primary_key
        assert key is not None  # an INSERT of one row always has its key
        return AuditEntry(seq=int(key[0]), at=at, event=event, proposal_id=proposal_id,
                          actor=actor, via=via, detail=json.loads(body))

    def entries(self, proposal_id: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Entries oldest first; only one proposal's with ``proposal_id``; only the latest ``limit``."""
        query = sa.select(audit_table).order_by(audit_table.c.seq.desc())
        if proposal_id is not None:
            query = query.where(audit_table.c.proposal_id == proposal_id)
        if limit is not None:
            query = query.limit(max(int(limit), 0))
        with self.store.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [AuditEntry(seq=r["seq"], at=r["at"], event=r["event"], proposal_id=r["proposal_id"], actor=r["actor"],
                           via=r["via"], detail=json.loads(r["detail"])) for r in reversed(rows)]


def audit_deploy_override(log: AuditLog, model: str, override: GateOverride, *, actor: str, via: str,
                          proposal_id: str | None = None) -> AuditEntry:
    """Audit a forced route (``force=True`` past the deploy gate): who, from where, which version, and why."""
    return log.append(DEPLOY_OVERRIDE, actor=actor, via=via, proposal_id=proposal_id,
                      detail={"model": model, "version": override.version, "route": override.route,
                              "gate": override.gate, "reason": override.reason or "none given"})
