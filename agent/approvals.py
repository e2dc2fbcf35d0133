"""The approvals inbox: every proposal, its status and its decision, in ``OPSAGENT_HOME/approvals.db``.

Chat, Slack, the web page and the scheduler all file and answer proposals here. Each change commits in
one transaction with its audit entry, so the log and the inbox never disagree. Status moves one way:

    pending -> accepted | rejected | expired | refused
    accepted -> executing | refused
    executing -> executed | failed
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.audit import AuditEntry, AuditLog, Db, to_json
from agent.proposals import Proposal, proposal_from_dict

ProposalStatus = Literal["pending", "accepted", "rejected", "expired", "refused", "executing", "executed", "failed"]
Decision = Literal["accept", "edit", "response", "ignore"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"accepted", "rejected", "expired", "refused"}),
    "accepted": frozenset({"executing", "refused"}),
    "executing": frozenset({"executed", "failed"}),
}
# The audit event names the Agent-Inbox answer; the record keeps it as the decision.
_DECISIONS: dict[str, Decision] = {"accepted": "accept", "edited": "edit", "edited-accepted": "edit",
                                   "responded": "response", "ignored": "ignore", "rejected": "ignore"}
LIST_HINT = "list proposal ids with `opsagent approvals list`"

SCHEMA = """
CREATE TABLE IF NOT EXISTS proposals (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    thread_id TEXT,
    source TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    decided_by TEXT,
    decided_via TEXT,
    decision TEXT,
    outcome TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL               -- the proposal as JSON
);
CREATE INDEX IF NOT EXISTS proposals_status ON proposals(status, expires_at);
CREATE INDEX IF NOT EXISTS proposals_model ON proposals(model, created_at);
"""


class ApprovalError(Exception):
    """A user-facing refusal (unknown id, a proposal that is not pending, a transition not allowed)."""


class ProposalRecord(BaseModel):
    """A proposal in the inbox; its edits and decisions are in the audit log (``ApprovalStore.history``)."""

    proposal: Proposal
    status: ProposalStatus
    thread_id: str | None = Field(None, description="the LangGraph thread that pauses on this proposal")
    source: str = Field(description="the interface that filed it")
    created_at: float
    updated_at: float
    decided_by: str | None = None
    decided_via: str | None = None
    decision: Decision | None = None
    outcome: str = ""

    @property
    def id(self) -> str:
        return self.proposal.id


class ApprovalStore:
    """The inbox on one SQLite file; ``.audit`` is the append-only log on the same connection."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        self.path = path
        self.clock = clock
        self.db = Db(path)
        self.db.schema(SCHEMA)
        self.audit = AuditLog(path, db=self.db, clock=clock)

    def add(self, proposal: Proposal, *, thread_id: str | None, source: str, actor: str) -> ProposalRecord:
        """File a new pending proposal; audits ``proposed``."""
        now = self.clock()
        try:
            with self.db.write() as conn:
                conn.execute(
                    "INSERT INTO proposals (id, model, kind, status, thread_id, source, created_at, updated_at, "
                    "expires_at, body) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
                    (proposal.id, proposal.model, proposal.kind, thread_id, source, now, now, proposal.expires_at,
                     proposal.model_dump_json()))
                self.audit.insert(conn, "proposed", actor=actor, via=source, proposal_id=proposal.id,
                                  detail={"kind": proposal.kind, "title": proposal.title, "model": proposal.model})
        except sqlite3.IntegrityError as exc:
            raise ApprovalError(f"proposal {proposal.id} is already in the inbox") from exc
        return self.get(proposal.id)

    def get(self, proposal_id: str) -> ProposalRecord:
        """The proposal with this id, or with this unique id prefix."""
        return _record(self._row(self._resolve(proposal_id)))

    def list(self, *, status: ProposalStatus | None = None, model: str | None = None) -> builtins.list[ProposalRecord]:
        """Proposals newest first, optionally only one status or one model's."""
        clauses = [(c, v) for c, v in (("status = ?", status), ("model = ?", model)) if v is not None]
        where = ("WHERE " + " AND ".join(c for c, _ in clauses)) if clauses else ""
        rows = self.db.read(f"SELECT * FROM proposals {where} ORDER BY created_at DESC, rowid DESC",
                            tuple(v for _, v in clauses))
        return [_record(r) for r in rows]

    def pending(self, model: str | None = None) -> builtins.list[ProposalRecord]:
        """Proposals still waiting for an answer, newest first."""
        return self.list(status="pending", model=model)

    def history(self, proposal_id: str) -> builtins.list[AuditEntry]:
        """Everything that happened to one proposal, oldest first."""
        return self.audit.entries(self._resolve(proposal_id))

    def update_proposal(self, proposal_id: str, proposal: Proposal, *, actor: str, via: str,
                        changes: dict[str, Any]) -> ProposalRecord:
        """Replace a pending proposal with its edited copy (see ``apply_edit``); audits ``edited`` with the changes."""
        pid = self._resolve(proposal_id)
        if proposal.id != pid:
            raise ApprovalError(f"the edited proposal has id {proposal.id}, not {pid}")
        with self.db.write() as conn:
            status = self._status(conn, pid)
            if status != "pending":
                raise ApprovalError(f"proposal {pid} is {status}; only a pending proposal can be edited")
            conn.execute("UPDATE proposals SET body = ?, expires_at = ?, updated_at = ? WHERE id = ?",
                         (proposal.model_dump_json(), proposal.expires_at, self.clock(), pid))
            self.audit.insert(conn, "edited", actor=actor, via=via, proposal_id=pid,
                              detail={"changes": json.loads(to_json(changes))})
        return self.get(pid)

    def set_status(self, proposal_id: str, status: ProposalStatus, *, actor: str, via: str, event: str | None = None,
                   detail: dict[str, Any] | None = None, outcome: str | None = None) -> ProposalRecord:
        """Move a proposal along its lifecycle and audit it as ``event`` (default: the new status).

        Leaving ``pending`` records who decided, from where, and the decision (from the event: accepted →
        accept, or edit when the proposal was edited first; edited/edited-accepted → edit; responded → response;
        ignored/rejected → ignore; expired/refused → none).
        Transitions outside the lifecycle raise ``ApprovalError``.
        """
        pid = self._resolve(proposal_id)
        event = event or status
        with self.db.write() as conn:
            current = self._status(conn, pid)
            if status not in TRANSITIONS.get(current, frozenset()):
                raise ApprovalError(_refusal(pid, current, status))
            sets = ["status = ?", "updated_at = ?"]
            params: builtins.list[Any] = [status, self.clock()]
            if current == "pending":
                decision = _DECISIONS.get(event)
                if decision == "accept" and conn.execute(
                        "SELECT 1 FROM audit WHERE proposal_id = ? AND event = 'edited' LIMIT 1", (pid,)).fetchone():
                    decision = "edit"
                sets += ["decided_by = ?", "decided_via = ?", "decision = ?"]
                params += [actor, via, decision]
            if outcome is not None:
                sets.append("outcome = ?")
                params.append(outcome)
            conn.execute(f"UPDATE proposals SET {', '.join(sets)} WHERE id = ?", (*params, pid))
            self.audit.insert(conn, event, actor=actor, via=via, proposal_id=pid,
                              detail={"from": current, "to": status, **({"outcome": outcome} if outcome else {}),
                                      **(detail or {})})
        return self.get(pid)

    def note(self, proposal_id: str, event: str, *, actor: str, via: str,
             detail: dict[str, Any] | None = None) -> AuditEntry:
        """Audit an event that changes no status (verified, rolled_back, denied, responded text...)."""
        return self.audit.append(event, actor=actor, via=via, proposal_id=self._resolve(proposal_id), detail=detail)

    def expire_due(self, now: float, *, via: str = "scheduler") -> builtins.list[str]:
        """Expire every pending proposal whose ``expires_at`` has passed; returns their ids (audited as opsagent)."""
        expired: builtins.list[str] = []
        with self.db.write() as conn:
            rows = conn.execute("SELECT id, expires_at FROM proposals WHERE status = 'pending' AND expires_at <= ? "
                                "ORDER BY created_at", (now,)).fetchall()
            for r in rows:
                conn.execute("UPDATE proposals SET status = 'expired', updated_at = ?, decided_by = 'opsagent', "
                             "decided_via = ? WHERE id = ?", (now, via, r["id"]))
                self.audit.insert(conn, "expired", actor="opsagent", via=via, proposal_id=r["id"],
                                  detail={"from": "pending", "to": "expired", "expires_at": r["expires_at"]})
                expired.append(r["id"])
        return expired

    def close(self) -> None:
        self.db.close()

    def _resolve(self, proposal_id: str) -> str:
        """The full id for an id or a unique prefix of one."""
        key = proposal_id.strip()
        if not key:
            raise ApprovalError(f"give a proposal id; {LIST_HINT}")
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        ids = [r["id"] for r in self.db.read(
            "SELECT id FROM proposals WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6", (key, escaped + "%"))]
        if key in ids:
            return key
        if not ids:
            raise ApprovalError(f"no proposal {key!r}; {LIST_HINT}")
        if len(ids) > 1:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise ApprovalError(f"{key!r} matches several proposals ({shown}); give more of the id")
        return ids[0]

    def _row(self, pid: str) -> sqlite3.Row:
        rows = self.db.read("SELECT * FROM proposals WHERE id = ?", (pid,))
        if not rows:
            raise ApprovalError(f"no proposal {pid!r}; {LIST_HINT}")
        return rows[0]

    @staticmethod
    def _status(conn: sqlite3.Connection, pid: str) -> str:
        row = conn.execute("SELECT status FROM proposals WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise ApprovalError(f"no proposal {pid!r}; {LIST_HINT}")
        return str(row["status"])


def _refusal(pid: str, current: str, target: str) -> str:
    if current != "pending" and target in TRANSITIONS["pending"] and target != "refused":
        return f"proposal {pid} is already {current}; only a pending proposal can be answered"
    allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset()))) or "nothing (it is final)"
    return f"proposal {pid} is {current} and cannot become {target}; from {current} it can become {allowed}"


def _record(row: sqlite3.Row) -> ProposalRecord:
    return ProposalRecord(
        proposal=proposal_from_dict(json.loads(row["body"])), status=row["status"], thread_id=row["thread_id"],
        source=row["source"], created_at=row["created_at"], updated_at=row["updated_at"],
        decided_by=row["decided_by"], decided_via=row["decided_via"], decision=row["decision"],
        outcome=row["outcome"] or "")
