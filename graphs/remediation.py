"""The remediation graph — one thread per proposal (thread id = proposal id):

await_approval (``interrupt()``, Agent-Inbox answers) → accept / edit → precheck (expired? champion
changed?) → execute, one checkpointed phase per step (graphs.execute) → verify → record; response → revise →
await_approval again; ignore → rejected → record. Nothing is executed unless a person accepted (or edited) the proposal.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.context import OpsContext
from agent.leases import this_owner
from agent.proposals import (
    Accept,
    Edit,
    HumanResponse,
    Ignore,
    Proposal,
    ProposalEditError,
    Respond,
    RetrainProposal,
    inbox_request,
    parse_response,
    proposal_of,
)
from graphs.execute import Execution, run_phase
from graphs.nodes import ctx_of
from graphs.outcome import note_postmortem, record_outcome
from graphs.revise import revise_from_text
from graphs.state import RemediationState


def _proposal(state: RemediationState) -> Proposal:
    return proposal_of(state["proposal"])  # threads checkpointed before state was typed hold JSON


def _response(state: RemediationState) -> HumanResponse:
    answer = state.get("response")
    return parse_response(answer) if answer is not None else Ignore()


def await_approval(state: RemediationState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """Pause on Agent Inbox's ``interrupt([HumanInterrupt])``; the answer is audited as it arrives."""
    ctx = ctx_of(runtime)
    proposal = _proposal(state)
    # Runs again from the top when resumed: before interrupt() only what is idempotent. A thread started
    # without our runner (Studio, LangGraph's API) files its proposal here, so every answer finds it in the inbox.
    _ensure_in_inbox(ctx, proposal)
    answer = interrupt([inbox_request(proposal)])
    # The inbox boundary: a resume may carry JSON, ours or Agent Inbox's list of one (who and where unsaid).
    response = parse_response(answer, by=_server_user(runtime) or "unknown", via=ctx.via)  # type: ignore[arg-type]
    ctx.approvals.audit.append(f"answered-{response.type}", actor=response.by, via=response.via,
                               proposal_id=proposal.id, detail={"args": response.args})
    return {"response": response}


def _ensure_in_inbox(ctx: OpsContext, proposal: Proposal) -> None:
    from agent.approvals import ApprovalError

    try:
        ctx.approvals.get(proposal.id)
    except ApprovalError:
        from langgraph.config import get_config

        thread = get_config()["configurable"].get("thread_id")
        ctx.approvals.add(proposal, thread_id=str(thread) if thread else proposal.id, source=ctx.via,  # type: ignore[arg-type]
                          actor=ctx.actor)


def _server_user(runtime: Runtime[OpsContext]) -> str | None:
    """Who answered, when LangGraph's server authenticated them (its custom auth); None otherwise."""
    user = runtime.server_info.user if runtime.server_info is not None else None
    return str(user.identity) if user is not None and getattr(user, "identity", None) else None


def route_answer(state: RemediationState) -> Literal["edit", "precheck", "revise", "rejected"]:
    match _response(state):
        case Accept():
            return "precheck"
        case Edit():
            return "edit"
        case Respond():
            return "revise"
        case _:
            return "rejected"


def edit(state: RemediationState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    response = _response(state)
    assert isinstance(response, Edit)  # route_answer sends only edits here
    before = _proposal(state)
    try:
        # Validated where the answer entered (GraphRunner.answer, the dispatcher); a resume from another
        # client (LangGraph's own API) arrives unvalidated and is validated here, by the same function.
        if response.proposal is None:
            response = response.validated(before)  # also reduces an ActionRequest to the fields it changes
    except ProposalEditError as exc:  # refused, never executed
        return {"status": "refused", "outcome": f"edit refused: {exc}"}
    after = response.proposal
    assert after is not None
    ctx.approvals.update_proposal(before.id, after, actor=response.by, via=response.via, changes=response.args)
    ctx.progress(f"{response.by} edited {before.id}: {response.args}")
    return {"proposal": after}


def route_after_edit(state: RemediationState) -> Literal["precheck", "record"]:
    return "record" if state.get("status") == "refused" else "precheck"


def revise(state: RemediationState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """A person wrote back: the agent revises the proposal (named field changes) and asks again."""
    ctx = ctx_of(runtime)
    response = _response(state)
    assert isinstance(response, Respond)  # route_answer sends only responses here
    text = response.args
    proposal = _proposal(state)
    revised, reply = revise_from_text(ctx, proposal, text)
    ctx.approvals.audit.append("responded", actor=response.by, via=response.via, proposal_id=proposal.id,
                               detail={"text": text[:2000], "reply": reply})
    if revised is not proposal:
        changes = {k: v for k, v in revised.model_dump().items() if proposal.model_dump().get(k) != v}
        ctx.approvals.update_proposal(proposal.id, revised, actor="opsagent", via=response.via, changes=changes)
    ctx.progress(reply)
    return {"proposal": revised, "comments": [f"{response.by}: {text}", f"opsagent: {reply}"]}


def rejected(state: RemediationState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    response = _response(state)
    p = _proposal(state)
    reason = (response.args if isinstance(response, Ignore) else None) or "no reason given"
    ctx.approvals.set_status(p.id, "rejected", actor=response.by, via=response.via, event="rejected",
                             detail={"reason": reason}, outcome=f"rejected by {response.by}: {reason}")
    return {"status": "rejected",
            "outcome": f"rejected by {response.by} via {response.via}: {reason}; nothing executed"}


def precheck(state: RemediationState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """Refuse when the approval came too late or the world changed under the proposal."""
    ctx = ctx_of(runtime)
    response = _response(state)
    p = _proposal(state)
    now = ctx.clock()
    if p.expired(now):
        outcome = f"refused: the approval expired {(now - p.expires_at) / 60:.0f} min before {response.by} answered"
        ctx.approvals.set_status(p.id, "expired", actor=response.by, via=response.via, event="expired",
                                 detail={"answered_at": now}, outcome=outcome)
        return {"status": "refused", "outcome": outcome}
    champion = ctx.registry.alias(p.model, "champion")
    current = champion.version if champion else None
    if current != p.champion_version:
        outcome = (f"refused: the champion changed since the proposal (v{p.champion_version} → v{current}); "
                   "triage again for a fresh proposal")
        ctx.approvals.set_status(p.id, "refused", actor=response.by, via=response.via, event="refused",
                                 detail={"proposed_champion": p.champion_version, "champion": current},
                                 outcome=outcome)
        return {"status": "refused", "outcome": outcome}
    if (waiting := _labels_missing(ctx, p)) is not None:
        ctx.approvals.set_status(p.id, "refused", actor=response.by, via=response.via, event="refused",
                                 detail={"min_labels": getattr(p, "min_labels", 0)}, outcome=waiting)
        return {"status": "refused", "outcome": waiting}
    # The lease is taken with the acceptance: no other process (a second serve's recovery) can take the
    # proposal over between here and execute, which renews it.
    ctx.approvals.set_status(p.id, "accepted", actor=response.by, via=response.via,
                             event="edited-accepted" if isinstance(response, Edit) else "accepted",
                             lease_owner=this_owner())
    edited = isinstance(response, Edit)
    note_postmortem(ctx, p.incident_id, "edited" if edited else "accepted",
                    f"proposal {p.id} {'edited and accepted' if edited else 'accepted'} by {response.by} via "
                    f"{response.via}")
    return {"status": "accepted"}


def _labels_missing(ctx: OpsContext, p: Proposal) -> str | None:
    """A retrain proposed before labels confirmed the harm runs only once its window holds ``min_labels``."""
    need = getattr(p, "min_labels", 0)
    if not isinstance(p, RetrainProposal) or not need:
        return None
    with ctx.prediction_log(p.model) as log:
        have = len(log.labelled(p.window_since, p.window_until))
    if have >= need:
        return None
    return (f"refused: the retrain waits for labels that confirm the harm: {have} of {need} have arrived for its "
            "window; triage again once they have, or edit min_labels=0 to retrain now")


def route_after_precheck(state: RemediationState) -> Literal["execute", "record"]:
    return "execute" if state.get("status") == "accepted" else "record"


def execute(state: RemediationState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """One phase of the execution per step (graphs.execute), each checkpointed: a crash resumes at the phase it
    stopped in, under this proposal's lease (agent.leases), never from the top."""
    ctx = ctx_of(runtime)
    p = _proposal(state)
    run = Execution.from_state(state.get("execution"))
    if ctx.approvals.get(p.id).status == "accepted":
        ctx.approvals.set_status(p.id, "executing", actor=ctx.actor, via=ctx.via, event="executing",
                                 detail={"kind": p.kind})
    before = len(run.steps)
    with ctx.approvals.leases.held(p.id):
        run_phase(ctx, p, run)
    if len(run.steps) != before:  # each phase's steps reach the post-mortem as they happen
        note_postmortem(ctx, p.incident_id, "step", "", steps=list(run.steps))
    update: dict[str, Any] = {"execution": run.to_state()}
    if run.finished:
        status = "interrupted" if run.phase == "interrupted" else "executed" if run.ok else "failed"
        update.update(status=status, steps=run.steps, result=run.result, verified=run.fixed, outcome=run.outcome)
    return update


def route_after_execute(state: RemediationState) -> Literal["execute", "verify"]:
    return "verify" if Execution.from_state(state.get("execution")).finished else "execute"


def verify(state: RemediationState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    """Read the serving state back: is what the execution claims actually live?"""
    ctx = ctx_of(runtime)
    p = _proposal(state)
    result = state.get("result") or {}
    if state.get("status") != "executed" or "champion" not in result:
        return {}
    live = ctx.backend(p.model).status()
    ok = bool(live.ready and live.champion == result["champion"])
    line = (f"verified: champion v{live.champion} is live and ready" if ok else
            f"verification failed: serving champion v{live.champion}, ready={live.ready}")
    ctx.progress(line)
    return {"verified": bool(state.get("verified")) and ok, "steps": [line]}


def record(state: RemediationState, runtime: Runtime[OpsContext]) -> dict[str, Any]:
    ctx = ctx_of(runtime)
    record_outcome(ctx, _proposal(state), _response(state) if state.get("response") else None, state)
    ctx.approvals.leases.release(_proposal(state).id)
    return {}


def build_remediation(context_schema: type[OpsContext] = OpsContext
                      ) -> StateGraph[RemediationState, OpsContext, RemediationState, RemediationState]:
    """The graph's builder; ``context_schema``: the context class a run's context becomes (LangGraph's server
    builds it from the run: ``graphs.server``)."""
    builder = StateGraph(RemediationState, context_schema=context_schema)
    for name, fn in (("await_approval", await_approval), ("edit", edit), ("revise", revise),
                     ("rejected", rejected), ("precheck", precheck), ("execute", execute), ("verify", verify),
                     ("record", record)):
        builder.add_node(name, fn)  # type: ignore[call-overload]
    builder.add_edge(START, "await_approval")
    builder.add_conditional_edges("await_approval", route_answer)
    builder.add_conditional_edges("edit", route_after_edit)
    builder.add_edge("revise", "await_approval")
    builder.add_edge("rejected", "record")
    builder.add_conditional_edges("precheck", route_after_precheck)
    builder.add_conditional_edges("execute", route_after_execute)
    builder.add_edge("verify", "record")
    builder.add_edge("record", END)
    return builder


graph = build_remediation().compile()  # runs use a checkpointer (graphs.runner); langgraph.json: graphs.server
