"""Proposals: the only way anything changes. Typed, costed, editable in named fields, and answered by a human.

An LLM or the offline policy *files* a proposal; a graph pauses on it with ``interrupt()``; a person answers
in the Agent-Inbox shape (accept / edit / response / ignore); only the remediation graph executes it.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from agent.inbox import edit_changes, unwrap_answer, with_sender

ActionKind = Literal["retrain", "rollback", "promote", "retune_threshold", "fix_data", "investigate_infrastructure"]
# Where an answer or a run came from; "langgraph-api": LangGraph's own server (Studio, Agent Inbox, its SDK).
Interface = Literal["cli", "web", "slack", "scheduler", "demo", "chat", "test", "langgraph-api"]
Executor = Literal["opsagent", "user"]


class ProposalEditError(ValueError):
    """An edit named a field that cannot be edited or gave it an invalid value; the message says which."""


class Evidence(BaseModel):
    """One fact behind a proposal, with where it came from (a finding, an MLflow run, a memory id)."""

    source: str = Field(description="e.g. 'drift screen', 'mlflow run 3f2a...', 'memory incident-1a2b'")
    detail: str
    fact: str = Field("", description="the identity of the fact it states, the same for every wording of it "
                                      "(finding_fact; 'realised:f1'); '': its source and text are its identity")


# A finding of these kinds states a realised or estimated metric: the same fact as any other line on that metric.
_METRIC_FACTS = {"performance_drop": "realised", "estimated_performance_drop": "estimated"}


def finding_fact(kind: str, subject: str) -> str:
    """The identity of the fact a monitoring finding states: ``realised:f1`` for a realised drop of f1 (any line on
    realised f1 states it too), else ``<kind>:<subject>`` (``feature_drift:total_day_minutes``)."""
    return f"{_METRIC_FACTS[kind]}:{subject}" if kind in _METRIC_FACTS else f"{kind}:{subject}"


class ProposalBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: f"prop-{uuid.uuid4().hex[:10]}")
    model: str
    title: str = Field(description="one line for an inbox")
    rationale: str = Field(description="why, in a few sentences")
    evidence: list[Evidence] = Field(default_factory=list)
    champion_version: str | None = Field(description="precondition: the champion when proposed; a change refuses")
    created_at: float = Field(default_factory=time.time)
    expires_at: float = Field(description="unix time after which the proposal cannot be executed")
    brain: str = Field(description="which brain wrote it: 'offline policy' or 'llm <model>'")
    incident_id: str | None = None
    rollback_plan: str = ""
    # "user": a model opsagent does not serve (spec source: external) or train (trainable: false). The proposal
    # is an action for the user's own serving system or training pipeline; executing an approved one records
    # the hand-over and changes nothing. The default keeps proposals stored before this field readable.
    executor: Executor = Field("opsagent", description="who carries it out: opsagent, or the user's own systems")

    # Fields a person may change with an edit; everything else is evidence or precondition.
    editable: ClassVar[frozenset[str]] = frozenset()

    def expired(self, now: float) -> bool:
        """Past ``expires_at`` at ``now`` (the caller's clock: tests move it)."""
        return now >= self.expires_at


class RetrainProposal(ProposalBase):
    """Retrain on a data window, gate against the champion, canary, then promote or roll back."""

    kind: Literal["retrain"] = "retrain"
    window_since: float | None = Field(description="unix time; production records from here")
    window_until: float | None = Field(description="unix time; production records before this")
    include_reference: bool = True
    epochs: int = Field(40, ge=1, le=1000)
    seed: int = 11
    learning_rate: float = Field(5e-4, gt=0, le=1)
    # The default keeps proposals stored before this field readable. Bounded like epochs: on one machine more
    # processes than cores or GPUs cannot help (the pipeline refuses them with a message).
    nproc: int = Field(1, ge=1, le=64, description="training processes (torch DDP through torchrun when > 1)")
    # Pods on the cluster (OPSAGENT_TRAIN_BACKEND=kubernetes), each running nproc processes; the local backend
    # trains on this machine only, so it refuses more than one. The default keeps stored proposals readable.
    nodes: int = Field(1, ge=1, le=64, description="training pods on Kubernetes, nproc processes each")
    gate_metric: Literal["f1", "auc"] = "f1"
    gate_min_gain: float = Field(0.01, ge=-1, le=1, description="the challenger must beat the champion by this")
    canary_weight: float = Field(0.1, gt=0, le=1)
    expected_gain: str = Field("", description="what the retrain should win back, with its evidence")
    estimated_train_seconds: float = Field(0.0, ge=0, description="from the last training run's duration")
    estimated_cost_usd: float = Field(0.0, ge=0, description="compute cost estimate")
    min_labels: int = Field(0, ge=0, description="labels the window must hold before the retrain runs (a retrain "
                            "proposed before labels confirmed the harm); 0: run on approval")
    editable: ClassVar[frozenset[str]] = frozenset({
        "window_since", "window_until", "include_reference", "epochs", "seed", "learning_rate", "nproc", "nodes",
        "gate_metric", "gate_min_gain", "canary_weight", "min_labels"})


class RollbackProposal(ProposalBase):
    """Drop the canary (or go back to the previous champion)."""

    kind: Literal["rollback"] = "rollback"
    bad_version: str = Field(description="the version to take out of traffic")
    target_version: str | None = Field(description="the version that keeps serving")


class PromoteProposal(ProposalBase):
    """Make the canary the champion."""

    kind: Literal["promote"] = "promote"
    version: str


class ThresholdProposal(ProposalBase):
    """Ship the champion with a new decision threshold (a new registry version), as a canary."""

    kind: Literal["retune_threshold"] = "retune_threshold"
    version: str = Field(description="the version whose threshold changes")
    current_threshold: float
    proposed_threshold: float = Field(gt=0, lt=1)
    canary_weight: float = Field(0.1, gt=0, le=1)
    editable: ClassVar[frozenset[str]] = frozenset({"proposed_threshold", "canary_weight"})


class FixDataProposal(ProposalBase):
    """An upstream feed is broken: nothing to deploy; a person must fix the data. Accepting acknowledges it."""

    kind: Literal["fix_data"] = "fix_data"
    features: list[str]
    problem: str


class InfrastructureProposal(ProposalBase):
    """The serving platform is broken, not the model: nothing to train or deploy; the platform's owner must look at
    the replicas. Accepting acknowledges the page."""

    kind: Literal["investigate_infrastructure"] = "investigate_infrastructure"
    backend: str = Field(description="the deployment backend: local or kubernetes")
    replicas: str = Field(description="e.g. '0/1 replicas ready, 2 restart(s)'")
    problems: list[str] = Field(default_factory=list, description="one line per troubled replica: its name, state "
                                "and the platform's words")
    events: list[str] = Field(default_factory=list, description="recent Warning events, newest first")


Proposal = Annotated[RetrainProposal | RollbackProposal | PromoteProposal | ThresholdProposal | FixDataProposal
                     | InfrastructureProposal, Field(discriminator="kind")]


PROPOSAL_TYPES: tuple[type[ProposalBase], ...] = (RetrainProposal, RollbackProposal, PromoteProposal,
                                                  ThresholdProposal, FixDataProposal, InfrastructureProposal)
_PROPOSAL: TypeAdapter[Proposal] = TypeAdapter(Proposal)


def proposal_from_dict(data: dict[str, Any]) -> Proposal:
    """Rebuild a stored proposal (JSON from the approvals store, or a checkpoint written before state was typed)."""
    return _PROPOSAL.validate_python(data)


def proposal_of(value: Proposal | dict[str, Any]) -> Proposal:
    """The typed proposal of a graph state: threads checkpointed before state was typed hold its JSON instead."""
    return value if isinstance(value, PROPOSAL_TYPES) else proposal_from_dict(value)  # type: ignore[arg-type]


def apply_edit(proposal: Proposal, changes: dict[str, Any]) -> Proposal:
    """A copy with ``changes`` applied and validated; unknown or non-editable fields are refused.

    The one place an edit is validated: ``Edit.validated`` calls it where the answer enters (the dispatcher
    for web and Slack, ``GraphRunner.answer`` for the CLI), and the graph applies the validated copy."""
    if not changes:
        raise ProposalEditError("an edit needs at least one field to change")
    locked = sorted(set(changes) - set(proposal.editable))
    if locked:
        allowed = ", ".join(sorted(proposal.editable)) or "none"
        raise ProposalEditError(f"cannot edit {', '.join(locked)} of a {proposal.kind} proposal; editable: {allowed}")
    data = proposal.model_dump()
    data.update(changes)
    try:
        edited = proposal_from_dict(data)
    except ValidationError as exc:
        bad = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        raise ProposalEditError(f"invalid edit: {bad}") from exc
    return _recosted(proposal, edited) if isinstance(proposal, RetrainProposal) else edited


def _recosted(before: RetrainProposal, after: Proposal) -> Proposal:
    """A retrain whose epochs, nproc or nodes changed gets its time and cost estimate (and the rationale's
    sentence saying them) scaled to the new shape (agent.train_scaling)."""
    from agent.train_scaling import cost_sentence, processes, rescale

    assert isinstance(after, RetrainProposal)
    shape0 = (before.epochs, processes(before.nodes, before.nproc))
    shape1 = (after.epochs, processes(after.nodes, after.nproc))
    if shape0 == shape1 or before.estimated_train_seconds <= 0:
        return after
    seconds, usd = rescale(before.estimated_train_seconds, before.estimated_cost_usd, before=shape0, after=shape1)
    old = cost_sentence(before.estimated_train_seconds, shape0[1], before.estimated_cost_usd)
    return after.model_copy(update={
        "estimated_train_seconds": round(seconds, 1), "estimated_cost_usd": round(usd, 4),
        "rationale": after.rationale.replace(old, cost_sentence(seconds, shape1[1], usd))})


class _Answer(BaseModel):
    """What every Agent-Inbox answer carries: who answered, and through which interface."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field("unknown", description="who answered")
    via: Interface = "cli"


class Accept(_Answer):
    """Run the proposal as filed."""

    type: Literal["accept"] = "accept"
    args: dict[str, Any] | None = Field(None, description="Agent Inbox echoes the action request; not used")


class Edit(_Answer):
    """Change named editable fields, then run the edited proposal."""

    type: Literal["edit"] = "edit"
    args: dict[str, Any] = Field(description="editable field name -> new value; or Agent Inbox's ActionRequest "
                                             "{action, args: the whole proposal, edited}")
    proposal: Proposal | None = Field(None, description="the edited proposal, once validated (see validated)")

    def validated(self, proposal: Proposal) -> Edit:
        """This answer with the edited copy of ``proposal`` attached and ``args`` reduced to the fields it
        changes; raises ``ProposalEditError`` saying why not."""
        changes = edit_changes(proposal.model_dump(mode="json"), self.args)
        return self.model_copy(update={"args": changes, "proposal": apply_edit(proposal, changes)})


class Respond(_Answer):
    """Free text back to the agent: it revises the proposal and asks again. Nothing runs."""

    type: Literal["response"] = "response"
    args: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        description="the person's message")


class Ignore(_Answer):
    """Reject: nothing runs; the reason is audited and remembered."""

    type: Literal["ignore"] = "ignore"
    args: str | None = Field(None, description="the reason, if given")


HumanResponse = Annotated[Accept | Edit | Respond | Ignore, Field(discriminator="type")]
ANSWER_TYPES: tuple[type[_Answer], ...] = (Accept, Edit, Respond, Ignore)
_RESPONSE: TypeAdapter[HumanResponse] = TypeAdapter(HumanResponse)


class AnswerError(ValueError):
    """An answer that is not one of accept / edit / response / ignore with the right args; says what is wrong."""


def parse_response(value: HumanResponse | dict[str, Any] | list[Any], *, by: str = "unknown",
                   via: Interface = "cli") -> HumanResponse:
    """The typed answer: as given, or parsed from the JSON an inbox (or LangGraph's resume) sent — ours (one
    answer naming who and from where) or Agent Inbox's (a list of one HumanResponse; ``by``/``via`` fill in
    who and where, which it does not say)."""
    value = unwrap_answer(value)
    if isinstance(value, ANSWER_TYPES):
        return value  # type: ignore[return-value]
    value = with_sender(value, by=by, via=via)
    try:
        return _RESPONSE.validate_python(value)
    except ValidationError as exc:
        raise AnswerError(_answer_problem(value, exc)) from exc


def _answer_problem(value: Any, exc: ValidationError) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in ("accept", "edit", "response", "ignore"):
        return f"an answer is accept, edit, response or ignore, not {kind!r}"
    hint = {"edit": "an edit needs the fields to change, e.g. epochs=20",
            "response": "a response needs text for the agent, e.g. 'use only the last 7 days'"}.get(kind, "")
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'answer'}: {e['msg']}" for e in exc.errors())
    return hint or f"invalid {kind} answer: {problems}"


def inbox_request(proposal: Proposal) -> dict[str, Any]:
    """The Agent-Inbox ``HumanInterrupt`` for a proposal, exactly its schema (a graph pauses on a list of one);
    the proposal's id is ``action_request.args.id``."""
    return {
        "action_request": {"action": proposal.kind, "args": proposal.model_dump(mode="json")},
        "config": {"allow_ignore": True, "allow_respond": True, "allow_edit": bool(proposal.editable),
                   "allow_accept": True},
        "description": f"{proposal.title}\n\n{proposal.rationale}",
    }
