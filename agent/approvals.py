"""The approvals inbox: every proposal, its status and its decision, in ``OPSAGENT_HOME/approvals.db``.

Chat, Slack, the web page and the scheduler all file and answer proposals here. Each change commits in
one transaction with its audit entry, so the log and the inbox never disagree. Status moves one way:

    pending -> accepted | rejected | expired | refused | superseded
    accepted -> executing | refused | interrupted
    executing -> executed | failed | interrupted
    interrupted -> executing (resumed by a person) | failed (abandoned)

A process that dies while executing leaves the proposal ``executing`` with a stale lease (``agent.leases``);
``GraphRunner.resume`` takes it over from the last checkpoint, or marks it ``interrupted`` when that is unsafe.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from agent import audit
from agent.approval_records import (
    DECISIONS,
    LIST_HINT,
    STRANDABLE,
    TRANSITIONS,
    ApprovalError,
    Decision,
    ProposalRecord,
    ProposalStatus,
    metadata,
    not_pending,
    proposals,
    record_of,
    refusal,
)
from agent.audit import AuditEntry, AuditLog, to_json
from agent.leases import LeaseBook
from agent.leases import metadata as lease_metadata
from agent.proposals import Proposal
from ml_core.store import Handle, Store, rowid

_c = proposals.c

__all__ = ["LIST_HINT", "STRANDABLE", "TRANSITIONS", "ApprovalError", "ApprovalStore", "Decision", "ProposalRecord",
           "ProposalStatus", "metadata", "not_pending", "proposals"]


class ApprovalStore(Handle):
    """The inbox on one database (a SQLite path or a URL); ``.audit`` is the append-only log on the same store."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time):
        self.path = path
        self.clock = clock
        self.store = Store(path, metadata, audit.metadata, lease_metadata)
        self.audit = AuditLog(path, store=self.store, clock=clock)
        self.leases = LeaseBook(self.store, clock)

    def add(self, proposal: Proposal, *, thread_id: str | None, source: str, actor: str) -> ProposalRecord:
        """File a new pending proposal; audits ``proposed``."""
        now = self.clock()
        try:
            with self.store.write() as conn:
                conn.execute(proposals.insert().values(
                    id=proposal.id, model=proposal.model, kind=proposal.kind, status="pending", thread_id=thread_id,
                    source=source, created_at=now, updated_at=now, expires_at=proposal.expires_at,
                    body=proposal.model_dump_json()))
                self.audit.insert(conn, "proposed", actor=actor, via=source, proposal_id=proposal.id,
                                  detail={"kind": proposal.kind, "title": proposal.title, "model": proposal.model})
        except sa.exc.IntegrityError as exc:
            raise ApprovalError(f"proposal {proposal.id} is already in the inbox") from exc
        return self.get(proposal.id)

    def get(self, proposal_id: str) -> ProposalRecord:
        """The proposal with this id, or with this unique id prefix."""
        return record_of(self._row(self._resolve(proposal_id)))

    def list(self, *, status: ProposalStatus | None = None, model: str | None = None, since: float | None = None,
             limit: int | None = None) -> builtins.list[ProposalRecord]:
        """Proposals newest first, optionally only one status or one model's, only those created or changed at or
        after ``since``, and only the newest ``limit`` (in SQL: a chart asks for a day, not the whole history)."""
        query = sa.select(proposals).order_by(_c.created_at.desc(), rowid(proposals).desc()).limit(limit)
        if status is not None:
            query = query.where(_c.status == status)
        if model is not None:
            query = query.where(_c.model == model)
        if since is not None:
            query = query.where(sa.or_(_c.created_at >= since, _c.updated_at >= since))
        with self.store.read() as conn:
            return [record_of(r) for r in conn.execute(query).mappings()]

    def pending(self, model: str | None = None) -> builtins.list[ProposalRecord]:
        """Proposals still waiting for an answer, newest first."""
        return self.list(status="pending", model=model)

    def counts(self) -> dict[tuple[str, str, str], int]:
        """How many proposals there are of each (model, kind, status), counted in SQL: /metrics."""
        query = sa.select(_c.model, _c.kind, _c.status, sa.func.count()).group_by(_c.model, _c.kind, _c.status)
        with self.store.read() as conn:
            return {(model, kind, status): int(n) for model, kind, status, n in conn.execute(query)}

    def stranded(self) -> builtins.list[ProposalRecord]:
        """Accepted or executing proposals that no live process holds: a crash left them (oldest first)."""
        found = [r for status in STRANDABLE for r in self.list(status=status)]  # type: ignore[arg-type]
        return sorted((r for r in found if self.leases.is_free(r.id)), key=lambda r: r.updated_at)

    def history(self, proposal_id: str) -> builtins.list[AuditEntry]:
        """Everything that happened to one proposal, oldest first."""
        return self.audit.entries(self._resolve(proposal_id))

    def update_proposal(self, proposal_id: str, proposal: Proposal, *, actor: str, via: str,
                        changes: dict[str, Any]) -> ProposalRecord:
        """Replace a pending proposal with its edited copy (see ``apply_edit``); audits ``edited`` with the changes."""
        return self._replace(proposal_id, proposal, "edited", {"changes": json.loads(to_json(changes))},
                             actor=actor, via=via)

    def set_status(self, proposal_id: str, status: ProposalStatus, *, actor: str, via: str, event: str | None = None,
                   detail: dict[str, Any] | None = None, outcome: str | None = None,
                   lease_owner: str | None = None) -> ProposalRecord:
        """Move a proposal along its lifecycle and audit it as ``event`` (default: the new status).

        Leaving ``pending`` records who decided, from where, and the decision (from the event: accepted →
        accept, or edit when the proposal was edited first; edited/edited-accepted → edit; responded → response;
        ignored/rejected → ignore; expired/refused → none).
        Transitions outside the lifecycle raise ``ApprovalError``. ``lease_owner``: also claim the proposal's
        execution lease for that owner in the same transaction (acceptance: no other process can take the
        proposal over between its acceptance and its execution); ``LeaseHeld`` if a live process holds it.

        The proposal's row is read locked (``FOR UPDATE``), so of two processes answering at once one moves
        it and the other is refused — on PostgreSQL as on SQLite, where the write lock already serialises them.
        """
        pid = self._resolve(proposal_id)
        event = event or status
        with self.store.write() as conn:
            current = self._status(conn, pid)
            if lease_owner is not None and status in TRANSITIONS.get(current, frozenset()):
                self.leases.claim_in(conn, pid, lease_owner)
            if status not in TRANSITIONS.get(current, frozenset()):
                raise ApprovalError(refusal(pid, current, status))
            values: dict[str, Any] = {"status": status, "updated_at": self.clock()}
            if current == "pending":
                decision = DECISIONS.get(event)
                if decision == "accept" and _was_edited(conn, pid):
                    decision = "edit"
                values.update(decided_by=actor, decided_via=via, decision=decision)
            if outcome is not None:
                values["outcome"] = outcome
            conn.execute(proposals.update().where(_c.id == pid).values(**values))
            self.audit.insert(conn, event, actor=actor, via=via, proposal_id=pid,
                              detail={"from": current, "to": status, **({"outcome": outcome} if outcome else {}),
                                      **(detail or {})})
        return self.get(pid)

    def refresh(self, proposal_id: str, proposal: Proposal, *, actor: str, via: str,
                detail: dict[str, Any]) -> ProposalRecord:
        """Replace a pending proposal with the same proposal on a later window (a later triage tick of its
        incident); audits ``refreshed`` with ``detail`` — not an edit, so an approval stays an ``accept``."""
        return self._replace(proposal_id, proposal, "refreshed", json.loads(to_json(detail)), actor=actor, via=via)

    def _replace(self, proposal_id: str, proposal: Proposal, event: str, detail: dict[str, Any], *, actor: str,
                 via: str) -> ProposalRecord:
        """Store a new body for a pending proposal (same id) and audit ``event``, in one transaction."""
        pid = self._resolve(proposal_id)
        if proposal.id != pid:
            raise ApprovalError(f"the {event} proposal has id {proposal.id}, not {pid}")
        with self.store.write() as conn:
            status = self._status(conn, pid)
            if status != "pending":
                raise ApprovalError(f"proposal {pid} is {status}; only a pending proposal can be {event}")
            conn.execute(proposals.update().where(_c.id == pid).values(
                body=proposal.model_dump_json(), expires_at=proposal.expires_at, updated_at=self.clock()))
            self.audit.insert(conn, event, actor=actor, via=via, proposal_id=pid, detail=detail)
        return self.get(pid)

    def supersede(self, proposal_id: str, *, by: str | None, reason: str, actor: str, via: str) -> ProposalRecord:
        """Close a pending proposal that a newer one (``by``) replaces, or that its resolved incident withdrew
        (``by=None``); audited ``superseded`` with both ids. Its paused thread may stay: answering says why."""
        outcome = f"superseded by {by}: {reason}" if by else f"withdrawn: {reason}"
        return self.set_status(proposal_id, "superseded", actor=actor, via=via, event="superseded",
                               detail={"by": by, "reason": reason}, outcome=outcome)

    def note(self, proposal_id: str, event: str, *, actor: str, via: str,
             detail: dict[str, Any] | None = None) -> AuditEntry:
        """Audit an event that changes no status (verified, rolled_back, denied, responded text...)."""
        return self.audit.append(event, actor=actor, via=via, proposal_id=self._resolve(proposal_id), detail=detail)

    def expire_due(self, now: float, *, via: str = "scheduler") -> builtins.list[str]:
        """Expire every pending proposal whose ``expires_at`` has passed; returns their ids (audited as opsagent)."""
        expired: builtins.list[str] = []
        with self.store.write() as conn:
            rows = conn.execute(sa.select(_c.id, _c.expires_at).where(_c.status == "pending", _c.expires_at <= now)
                                .order_by(_c.created_at).with_for_update(skip_locked=True)).all()
            for pid, expires_at in rows:
                conn.execute(proposals.update().where(_c.id == pid).values(
                    status="expired", updated_at=now, decided_by="opsagent", decided_via=via))
                self.audit.insert(conn, "expired", actor="opsagent", via=via, proposal_id=pid,
                                  detail={"from": "pending", "to": "expired", "expires_at": expires_at})
                expired.append(pid)
        return expired

    def _resolve(self, proposal_id: str) -> str:
        """The full id for an id or a unique prefix of one."""
        key = proposal_id.strip()
        if not key:
            raise ApprovalError(f"give a proposal id; {LIST_HINT}")
        query = (sa.select(_c.id).where(sa.or_(_c.id == key, _c.id.startswith(key, autoescape=True)))
                 .order_by(_c.id).limit(6))
        with self.store.read() as conn:
            ids = list(conn.execute(query).scalars())
        if key in ids:
            return key
        if not ids:
            raise ApprovalError(f"no proposal {key!r}; {LIST_HINT}")
        if len(ids) > 1:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            raise ApprovalError(f"{key!r} matches several proposals ({shown}); give more of the id")
        return str(ids[0])

    def _row(self, pid: str) -> RowMapping:
        with self.store.read() as conn:
            row = conn.execute(sa.select(proposals).where(_c.id == pid)).mappings().first()
        if row is None:
            raise ApprovalError(f"no proposal {pid!r}; {LIST_HINT}")
        return row

    @staticmethod
    def _status(conn: Connection, pid: str) -> str:
        """The proposal's status, its row locked until the transaction ends (a read before a write)."""
        status = conn.execute(sa.select(_c.status).where(_c.id == pid).with_for_update()).scalar()
        if status is None:
            raise ApprovalError(f"no proposal {pid!r}; {LIST_HINT}")
        return str(status)


def _was_edited(conn: Connection, pid: str) -> bool:
    """Whether the proposal was edited before this decision (the audit log, inside the same transaction)."""
    log = audit.audit_table.c
    return conn.execute(sa.select(sa.literal(1)).where(log.proposal_id == pid, log.event == "edited")
                        .limit(1)).first() is not None
