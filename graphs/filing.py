"""Filing a proposal: the inbox's side (file, refresh or supersede) and the remediation thread it pauses in.

One incident has one pending proposal: one of the same kind already pending for it is refreshed instead (same
id, this one's window and evidence); one of another kind is superseded by this one. Where the thread lives is
the caller's: this process's SQLite checkpointer (``GraphRunner``) or LangGraph's server (``graphs.server``).
"""

from __future__ import annotations

from typing import Protocol

from agent.context import OpsContext
from agent.proposals import Proposal


class ProposalThreads(Protocol):
    """Where remediation threads run: start one per proposal, or move a refreshed proposal into its thread."""

    def thread_id(self, proposal: Proposal) -> str:
        """The id the proposal's remediation thread gets."""
        ...

    def start(self, thread_id: str, proposal: Proposal) -> None:
        """Start the proposal's remediation thread; it pauses on ``interrupt()`` for approval."""
        ...

    def refresh(self, thread_id: str, proposal: Proposal) -> None:
        """Put the refreshed proposal in the paused thread's state, as a revision does, so it asks again."""
        ...


def file_proposal(ctx: OpsContext, proposal: Proposal, threads: ProposalThreads) -> str:
    """Put the proposal in the inbox and start its remediation thread; returns what happened, in a line."""
    from graphs.proposal_refresh import refreshed

    earlier = [r for r in ctx.approvals.pending(proposal.model)
               if proposal.incident_id and r.proposal.incident_id == proposal.incident_id]
    same = next((r for r in earlier if r.proposal.kind == proposal.kind), None)
    if same is not None:
        new, changes = refreshed(ctx.approvals, same, proposal)
        successor: Proposal = new
        ctx.approvals.refresh(same.id, new, actor=ctx.actor, via=ctx.via, detail={
            "incident": proposal.incident_id, "changes": changes})
        threads.refresh(same.thread_id or same.id, new)
        message = f"proposal {same.id} refreshed ({', '.join(sorted(changes)) or 'nothing changed'})"
    else:
        thread = threads.thread_id(proposal)
        ctx.approvals.add(proposal, thread_id=thread, source=ctx.via, actor=ctx.actor)
        threads.start(thread, proposal)
        successor = proposal
        message = f"proposal {proposal.id} filed for approval ({proposal.title})"
    for old in (r for r in earlier if r is not same):
        reason = f"incident {proposal.incident_id} now proposes a {proposal.kind}"
        ctx.approvals.supersede(old.id, by=successor.id, actor=ctx.actor, via=ctx.via, reason=reason)
        _note_superseded(ctx, old.id, successor, reason)
        message += f"; {old.id} superseded"
    return message


def _note_superseded(ctx: OpsContext, old_id: str, successor: Proposal, reason: str) -> None:
    """The incident's post-mortem shows the old proposal as superseded and points its action items at the new one."""
    from agent.reports.postmortem_actions import proposal_items
    from agent.reports.postmortem_events import Successor
    from agent.reports.render import proposal_summary
    from graphs.outcome import note_postmortem

    note_postmortem(ctx, successor.incident_id, "superseded", f"proposal {old_id} superseded by {successor.id}: "
                    f"{reason}", proposal_id=old_id,
                    successor=Successor(proposal_id=successor.id, kind=successor.kind,
                                        line=proposal_summary(successor), action_items=proposal_items(successor)))
