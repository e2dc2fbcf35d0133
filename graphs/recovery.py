"""Durable remediation: take over a proposal a dead process left accepted or executing, from its last checkpoint.

Each remediation step is checkpointed synchronously (``durability="sync"``) and every execution phase reads what
is already done before acting (graphs.execute, graphs.canary), so resuming re-runs at most the phase that was cut
short, and that phase does not repeat what it finished: one registered version, one routing change, one audit
story. Resuming is refused — the proposal is marked ``interrupted``, with what ran — when it would be unsafe: no
checkpoint to resume from, or the serving state changed under it (raised inside the phase). A proposal that has
already crashed ``MAX_AUTO_TAKEOVERS`` times is not resumed on start-up: a person looks first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from agent.approvals import STRANDABLE, ApprovalError, ProposalRecord
from agent.context import OpsContext
from agent.leases import LeaseHeld
from graphs.execution import Execution

# A proposal whose execution died twice after it started (three claims of its lease) is likely to kill the
# process again (out of memory in training, say): `opsagent serve` stops taking it over and a person decides.
MAX_AUTO_TAKEOVERS = 2


class GraphRunner(Protocol):
    """What recovery needs of graphs.runner.GraphRunner (which calls in here)."""

    ctx: OpsContext
    remediation_graph: Any

    def pending_request(self, proposal_id: str) -> dict[str, Any] | None: ...

    def outcome_of(self, proposal_id: str, out: dict[str, Any]) -> Any: ...


@dataclass
class Recovered:
    proposal_id: str
    action: str  # resumed, interrupted, refiled
    detail: str


def resume(runner: GraphRunner, proposal_id: str, *, by: str, via: str) -> Any:
    """Resume an accepted, executing or interrupted proposal from its last checkpoint (see the module)."""
    store = runner.ctx.approvals
    record = store.get(proposal_id)
    pid = record.proposal.id
    if record.status not in (*STRANDABLE, "interrupted"):
        hint = ("answer it with `opsagent approvals approve|reject`" if record.status == "pending"
                else "it is final")
        raise ApprovalError(f"proposal {pid} is {record.status}; there is nothing to resume ({hint})")
    lease = store.leases.get(pid)
    try:  # taken here, atomically: of two processes resuming one proposal, one wins and the other is told
        store.leases.claim(pid)
    except LeaseHeld as exc:
        raise ApprovalError(f"{exc}; it cannot be resumed while that process runs") from exc
    try:
        config, execution = _take_over(runner, record, by=by, via=via, previous=lease.owner if lease else None)
    except ApprovalError:
        store.leases.release(pid)
        raise
    runner.ctx.progress(f"resuming {pid} at its {execution.phase} step")
    out = runner.remediation_graph.invoke(None, config, context=runner.ctx, durability="sync")
    return runner.outcome_of(pid, out)


def _take_over(runner: GraphRunner, record: ProposalRecord, *, by: str, via: str,
               previous: str | None) -> tuple[Any, Execution]:
    """Audit the take-over and point the thread where it goes on; refuses (ApprovalError) with no checkpoint."""
    store, pid = runner.ctx.approvals, record.proposal.id
    config = _config(record)
    snapshot = runner.remediation_graph.get_state(config)
    execution = Execution.from_state(snapshot.values.get("execution"))
    if record.status == "interrupted":
        if execution.phase != "interrupted":
            raise ApprovalError(f"proposal {pid} has no checkpoint to retry from; abandon it with "
                                f"`opsagent approvals abandon {pid}` and triage again")
        _rewind(runner, config, execution)
        store.set_status(pid, "executing", actor=by, via=via, event="retried", detail={"phase": execution.phase})
    elif not snapshot.next:
        raise ApprovalError(interrupt(runner, record, by=by, via=via, why="no checkpoint of its remediation "
                                      f"thread in {runner.ctx.layout.checkpoints_db} to resume from"))
    else:
        store.note(pid, "resumed", actor=by, via=via,
                   detail={"at": list(snapshot.next), "phase": execution.phase, "previous_owner": previous})
    return config, execution


def interrupt(runner: GraphRunner, record: ProposalRecord, *, by: str, via: str, why: str) -> str:
    """Mark a stranded proposal interrupted, saying why and what had run; returns the outcome line."""
    pid = record.proposal.id
    snapshot = runner.remediation_graph.get_state(_config(record))
    steps = list((snapshot.values or {}).get("steps") or [])
    ran = "; ".join(steps[-3:]) or "nothing had run yet"
    outcome = (f"interrupted: {why}. What had run: {ran}. Resume it with `opsagent approvals resume {pid}` once "
               f"that is fixed, or give it up with `opsagent approvals abandon {pid}`")
    if record.status in STRANDABLE:
        runner.ctx.approvals.set_status(pid, "interrupted", actor=by, via=via, event="interrupted",
                                        outcome=outcome, detail={"why": why, "steps": steps[-10:]})
    return outcome


def abandon(runner: GraphRunner, proposal_id: str, *, by: str, via: str, reason: str) -> str:
    """Give up an interrupted (or stranded) proposal: its canary, if live, is rolled back, and its training job, if
    still on the cluster, deleted; it ends ``failed``."""
    store = runner.ctx.approvals
    record = store.get(proposal_id)
    pid = record.proposal.id
    if record.status in STRANDABLE:
        if not store.leases.is_free(pid):
            raise ApprovalError(f"proposal {pid} is being executed by a live process; it cannot be abandoned now")
        interrupt(runner, record, by=by, via=via, why=f"abandoned by {by}")
    elif record.status != "interrupted":
        raise ApprovalError(f"proposal {pid} is {record.status}; only an interrupted or stranded proposal can be "
                            "abandoned")
    from agent.k8s_training import stop_proposal_job

    done = "; ".join(x for x in (_undo_canary(runner, record), stop_proposal_job(runner.ctx, pid)) if x)
    outcome = f"abandoned by {by}: {reason or 'no reason given'}" + (f"; {done}" if done else "")
    store.set_status(pid, "failed", actor=by, via=via, event="abandoned", outcome=outcome, detail={"reason": reason})
    if (lease := store.leases.get(pid)) is not None:
        store.leases.release(pid, lease.owner)
    return outcome


def recover(runner: GraphRunner, *, via: str = "serve") -> list[Recovered]:
    """On start-up: resume every stranded proposal (or mark it interrupted), and re-open the paused thread of a
    pending proposal whose filing process died before the thread paused. One failure does not stop the rest."""
    found: list[Recovered] = []
    store = runner.ctx.approvals
    for record in store.stranded():
        pid = record.proposal.id
        lease = store.leases.get(pid)
        try:
            if lease is not None and lease.claims > MAX_AUTO_TAKEOVERS:
                line = interrupt(runner, record, by="opsagent", via=via,
                                 why=f"it stopped {lease.claims} times while executing, so it is not resumed "
                                     "automatically again; read the log first")
                found.append(Recovered(pid, "interrupted", line))
                continue
            out = resume(runner, pid, by="opsagent", via=via)
            found.append(Recovered(pid, "resumed", f"{out.status}: {out.outcome}"))
        except ApprovalError as exc:
            found.append(Recovered(pid, "interrupted", str(exc)))
    for record in store.pending():
        if runner.pending_request(record.proposal.id) is None and not _config_has_state(runner, record):
            runner.remediation_graph.invoke({"proposal": record.proposal, "source": record.source}, _config(record),
                                            context=runner.ctx, durability="sync")
            found.append(Recovered(record.proposal.id, "refiled", "its thread is paused for approval again"))
    return found


def _config(record: ProposalRecord) -> Any:
    return {"configurable": {"thread_id": record.thread_id or record.proposal.id}}


def _config_has_state(runner: GraphRunner, record: ProposalRecord) -> bool:
    return bool(runner.remediation_graph.get_state(_config(record)).values)


def _rewind(runner: GraphRunner, config: Any, execution: Execution) -> None:
    """Point an interrupted thread back at the phase that stopped, as if precheck had just passed."""
    execution.phase, execution.outcome = execution.interrupted_at or "start", ""
    runner.remediation_graph.update_state(config, {"status": "accepted", "execution": execution.to_state()},
                                          as_node="precheck")


def _undo_canary(runner: GraphRunner, record: ProposalRecord) -> str:
    """Roll back this proposal's canary if it is still routed; says what it did ("" when nothing)."""
    values = runner.remediation_graph.get_state(_config(record)).values or {}
    version = str(Execution.from_state(values.get("execution")).result.get("version", ""))
    if not version:
        return ""
    backend = runner.ctx.backend(record.proposal.model)
    if backend.status().canary != version:
        return ""
    backend.rollback()
    return f"its canary v{version} was rolled back"
