"""What the approvals inbox stores: the statuses and the moves between them, the ``proposals`` table, and a row
read back as a ``ProposalRecord`` (``agent.approvals.ApprovalStore`` reads and writes them)."""

from __future__ import annotations

import json
from typing import Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import RowMapping

from agent.proposals import Proposal, proposal_from_dict
from ml_core.store import insertion_order_column

ProposalStatus = Literal["pending", "accepted", "rejected", "expired", "refused", "executing", "executed", "failed",
                         "interrupted", "superseded"]
Decision = Literal["accept", "edit", "response", "ignore"]

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending": frozenset({"accepted", "rejected", "expired", "refused", "superseded"}),
    "accepted": frozenset({"executing", "refused", "interrupted"}),
    "executing": frozenset({"executed", "failed", "interrupted"}),
    "interrupted": frozenset({"executing", "failed"}),
}
STRANDABLE = ("accepted", "executing")  # a process may die in these; resume() takes them over
# The audit event names the Agent-Inbox answer; the record keeps it as the decision.
DECISIONS: dict[str, Decision] = {"accepted": "accept", "edited": "edit", "edited-accepted": "edit",
                                   "responded": "response", "ignored": "ignore", "rejected": "ignore"}
LIST_HINT = "list proposal ids with `opsagent approvals list`"

metadata = sa.MetaData()
proposals = sa.Table(
    "proposals", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("thread_id", sa.Text),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_via", sa.Text),
    sa.Column("decision", sa.Text),
    sa.Column("outcome", sa.Text, nullable=False, server_default=""),
    sa.Column("body", sa.Text, nullable=False),  # the proposal as JSON
    insertion_order_column("proposals"),  # PostgreSQL's tie-break of equal times (SQLite's rowid)
    sa.Index("proposals_status", "status", "expires_at"),
    sa.Index("proposals_model", "model", "created_at"),
)


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


def not_pending(record: ProposalRecord) -> str:
    """Why a proposal that is not pending cannot be answered, naming its successor when one replaced it."""
    pid = record.proposal.id
    if record.status == "superseded":
        return f"proposal {pid} is {record.outcome or 'superseded'}; nothing to answer here"
    return f"proposal {pid} is {record.status}, not pending; nothing to answer"


def refusal(pid: str, current: str, target: str) -> str:
    if current != "pending" and target in TRANSITIONS["pending"] and target != "refused":
        return f"proposal {pid} is already {current}; only a pending proposal can be answered"
    allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset()))) or "nothing (it is final)"
    return f"proposal {pid} is {current} and cannot become {target}; from {current} it can become {allowed}"


def record_of(row: RowMapping) -> ProposalRecord:
    return ProposalRecord(
        proposal=proposal_from_dict(json.loads(row["body"])), status=row["status"], thread_id=row["thread_id"],
        source=row["source"], created_at=row["created_at"], updated_at=row["updated_at"],
        decided_by=row["decided_by"], decided_via=row["decided_via"], decision=row["decision"],
        outcome=row["outcome"] or "")
