"""Refreshing a pending proposal from a later triage tick of its incident: the new window and evidence, with
the person's own edits and the approval clock kept."""

from __future__ import annotations

from typing import Any

from agent.approvals import ApprovalStore, ProposalRecord
from agent.proposals import Proposal

# What stays the pending proposal's own: its identity, and when it was asked (a refresh does not restart the
# approval's time to live: an incident longer than that asks again with a new proposal once it expires).
_KEPT = ("id", "created_at", "expires_at")


def person_edited(store: ApprovalStore, proposal_id: str) -> set[str]:
    """Fields a person changed on the proposal (edits, and revisions made from their comments)."""
    fields: set[str] = set()
    for entry in store.history(proposal_id):
        if entry.event == "edited":
            fields |= set((entry.detail or {}).get("changes") or {})
    return fields


def refreshed(store: ApprovalStore, pending: ProposalRecord, draft: Proposal) -> tuple[Proposal, dict[str, Any]]:
    """The pending proposal with ``draft``'s window and evidence; returns it and the changed fields (new values)."""
    old = pending.proposal
    keep = {name: getattr(old, name) for name in (*_KEPT, *sorted(person_edited(store, old.id)))
            if name in type(old).model_fields}
    new = type(old).model_validate({**draft.model_dump(), **keep})
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changes = {k: v for k, v in after.items() if before.get(k) != v and k != "evidence"}
    if before.get("evidence") != after.get("evidence"):
        changes["evidence"] = f"{len(after.get('evidence') or [])} items"
    return new, changes
