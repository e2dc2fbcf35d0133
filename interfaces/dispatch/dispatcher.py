"""The dispatcher: what the web page, the Slack bot and the scheduler share inside `opsagent serve`.

Every interface reaches the same graphs, memory and approvals inbox through it:

- ``stream_chat`` runs one chat turn (events as `GraphRunner.stream_chat` yields them);
- ``start_triage`` and ``answer`` run triage and remediation as background jobs, so a web request or a
  Slack click returns at once while the work goes on (a retrain takes minutes);
- every finished job, and every scheduled triage (``on_scheduled_run``), becomes an ``Event`` for the
  subscribers (the Slack notifier posts them, the web page lists them);
- ``may_approve`` is the approver allowlist; a refused answer changes nothing and is audited;
- ``shutdown`` waits (up to a grace) for running jobs: LangGraph checkpoints each step, SQLite commits
  each change in one transaction, so a stop never leaves anything half-written.

Each job opens its own `GraphRunner` (its own checkpointer connection): jobs run on several threads.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.approvals import ApprovalError, ProposalRecord
from agent.context import OpsContext
from agent.proposals import HumanResponse
from agent.settings import Settings
from interfaces.scheduler.run_log import RunRecord

logger = logging.getLogger(__name__)

JobKind = Literal["triage", "answer"]
JobStatus = Literal["running", "done", "failed"]
EventKind = Literal["incident", "quiet", "triage_failed", "remediation_started", "remediation", "answered",
                    "refused"]
# Builds the context a job runs with; tests swap it to replay canary traffic or inject a scripted LLM.
ContextFactory = Callable[[Settings, str, str], OpsContext]
MAX_MESSAGE_CHARS = 4000  # chat input beyond this is refused, not truncated silently


class DispatchError(ValueError):
    """Bad input from a person (unknown model, empty question, not pending): the message says what to do."""


class NotApprover(DispatchError):
    """The person is not on the approver allowlist of their interface; nothing was changed."""


@dataclass
class Job:
    """A triage or an answer running in the background."""

    id: str
    kind: JobKind
    actor: str
    via: str
    model: str | None = None
    proposal_id: str | None = None
    status: JobStatus = "running"
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "kind", "actor", "via", "model", "proposal_id", "status",
                                              "started_at", "finished_at", "message")}


@dataclass(frozen=True)
class Event:
    """Something people should hear about: an incident and its proposal, a remediation, a refusal."""

    kind: EventKind
    model: str | None
    text: str
    via: str
    actor: str
    incident_id: str | None = None
    proposal_id: str | None = None
    postmortem: str | None = None
    status: str | None = None  # remediation status: executed, failed, rejected, refused, pending
    steps: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)


def default_context(settings: Settings, actor: str, via: str) -> OpsContext:
    return OpsContext(settings, actor=actor, via=via,
                      progress=lambda m: logger.info("%s/%s: %s", via, actor, m))


class Dispatcher:
    """Shared by the interfaces of one `opsagent serve` process. Thread-safe."""

    def __init__(self, settings: Settings, *, context_factory: ContextFactory = default_context,
                 workers: int = 2, keep_events: int = 200):
        self.settings = settings
        self.context_factory = context_factory
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dispatcher")
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._futures: dict[str, Future[None]] = {}
        self._events: deque[Event] = deque(maxlen=keep_events)
        self._subscribers: list[Callable[[Event], None]] = []
        self._closing = False
        self._store_ctx = context_factory(settings, "opsagent", "web")  # reads: inbox, registry, incidents

    # ---- events ----------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` with every event (on the thread that produced it; exceptions are logged)."""
        with self._lock:
            self._subscribers.append(callback)

    def publish(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken notifier (Slack down) must not break the job that published
                logger.exception("event subscriber failed on %s", event.kind)

    def events(self, limit: int = 50) -> list[Event]:
        """Newest first."""
        with self._lock:
            return list(self._events)[::-1][:limit]

    # ---- reads -----------------------------------------------------------------------------------
    @property
    def ctx(self) -> OpsContext:
        """A context for reads (inbox, registry, incidents); jobs get their own."""
        return self._store_ctx

    def models(self) -> list[str]:
        return self._store_ctx.registry.models()

    def pending(self) -> list[ProposalRecord]:
        store = self._store_ctx.approvals
        store.expire_due(time.time(), via="web")
        return store.pending()

    def jobs(self, limit: int = 20) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)[:limit]

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def running_for(self, proposal_id: str) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values()
                         if j.proposal_id == proposal_id and j.status == "running"), None)

    # ---- chat ------------------------------------------------------------------------------------
    def stream_chat(self, text: str, *, thread_id: str, actor: str, via: str) -> Iterator[tuple[str, str]]:
        """One chat turn: ("token"|"call"|"result"|"answer"|"brain", text) events, as the graph runs."""
        from graphs.runner import GraphRunner

        text = (text or "").strip()
        if not text:
            raise DispatchError("the message is empty; ask a question, e.g. 'status churn'")
        if len(text) > MAX_MESSAGE_CHARS:
            raise DispatchError(f"the message is {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}. "
                            f"Shorten it or attach less data")
        if not thread_id or len(thread_id) > 200:
            raise DispatchError("a chat thread id of 1-200 characters is needed")
        with GraphRunner(self.context_factory(self.settings, actor, via)) as runner:
            yield from runner.stream_chat(text, thread_id=thread_id)

    def chat(self, text: str, *, thread_id: str, actor: str, via: str) -> tuple[str, str]:
        """One chat turn, answered whole: (answer, brain)."""
        answer, brain = "", ""
        for kind, value in self.stream_chat(text, thread_id=thread_id, actor=actor, via=via):
            if kind == "answer":
                answer = value
            elif kind == "brain":
                brain = value
        return answer, brain

    # ---- triage ----------------------------------------------------------------------------------
    def start_triage(self, model: str | None, *, actor: str, via: str) -> Job:
        """Triage MODEL (default: the settings' model) in the background; the result is published."""
        name = (model or self.settings.model_name).strip()
        known = self.models()
        if name not in known:
            raise DispatchError(f"no registered model '{name}'; registered: {', '.join(known) or 'none yet'}")
        job = Job(id=f"job-{uuid.uuid4().hex[:8]}", kind="triage", actor=actor, via=via, model=name,
                  message=f"triage of {name} running")
        return self._submit(job, lambda: self._run_triage(job))

    def _run_triage(self, job: Job) -> None:
        from interfaces.scheduler import run_triage

        assert job.model is not None
        record = run_triage(self.context_factory(self.settings, job.actor, job.via), job.model)
        if record.status == "failed":
            raise RuntimeError(record.detail)
        job.message = self._publish_run(record, actor=job.actor).text

    def on_scheduled_run(self, record: RunRecord) -> None:
        """The scheduler's ``on_result``: a scheduled triage's outcome goes to the subscribers."""
        self._publish_run(record, actor="scheduler")

    def _publish_run(self, record: RunRecord, *, actor: str) -> Event:
        if record.status == "incident":
            text = f"{record.model}: {record.detail}"
            kind: EventKind = "incident"
        elif record.status == "ok":
            text, kind = f"{record.model}: nothing to report ({record.detail})", "quiet"
        else:
            text, kind = f"{record.model}: triage failed: {record.detail}", "triage_failed"
        event = Event(kind=kind, model=record.model, text=text, via=record.via, actor=actor,
                      incident_id=record.incident_id, proposal_id=record.proposal_id,
                      postmortem=record.postmortem)
        self.publish(event)
        return event

    # ---- answers ---------------------------------------------------------------------------------
    def may_approve(self, actor: str, via: str) -> bool:
        """Slack: only users on ``slack_approvers``. Web: ``web_approvers``, or every signed-in user if empty."""
        if via == "slack":
            return actor in self.settings.slack_approvers
        if via == "web":
            return not self.settings.web_approvers or actor in self.settings.web_approvers
        return False

    def answer(self, proposal_id: str, response: HumanResponse) -> Job:
        """Check the person may answer and the proposal is pending, then resume its thread in the background.

        Raises ``NotApprover`` (audited, nothing changes) or ``DispatchError`` (unknown, not pending, busy).
        """
        store = self._store_ctx.approvals
        store.expire_due(time.time(), via=response.via)
        try:
            record = store.get(proposal_id)
        except ApprovalError as exc:
            raise DispatchError(str(exc)) from exc
        pid = record.proposal.id
        # Only comments are open to everyone: they revise the proposal, which then waits for an approver again.
        if response.type != "response" and not self.may_approve(response.by, response.via):
            store.note(pid, "refused-not-approver", actor=response.by, via=response.via,
                       detail={"answer": response.type})
            self.publish(Event(kind="refused", model=record.proposal.model, via=response.via, actor=response.by,
                               proposal_id=pid, incident_id=record.proposal.incident_id,
                               text=f"{response.by} is not an approver; {pid} was not changed"))
            raise NotApprover(f"sorry, {response.by} is not on the approver list for {response.via}, so the "
                              f"proposal was not changed. Ask an approver, or an admin to add you "
                              f"(OPSAGENT_{'SLACK' if response.via == 'slack' else 'WEB'}_APPROVERS)")
        if record.status != "pending":
            raise DispatchError(f"proposal {pid} is {record.status}, not pending; nothing to answer")
        if self.running_for(pid):
            raise DispatchError(f"proposal {pid} is already being answered; wait for that to finish")
        if response.type == "edit":
            from agent.proposals import ProposalEditError, apply_edit

            if not isinstance(response.args, dict) or not response.args:
                raise DispatchError("an edit needs the fields to change, e.g. epochs=20")
            try:
                apply_edit(record.proposal, response.args)  # returns a validated copy: fail before queueing
            except ProposalEditError as exc:
                raise DispatchError(str(exc)) from exc
        if response.type == "response" and not str(response.args or "").strip():
            raise DispatchError("a response needs text for the agent, e.g. 'use only the last 7 days'")
        verb = {"accept": "approved", "edit": "edited and approved", "response": "answered",
                "ignore": "rejected"}[response.type]
        job = Job(id=f"job-{uuid.uuid4().hex[:8]}", kind="answer", actor=response.by, via=response.via,
                  model=record.proposal.model, proposal_id=pid, message=f"{pid} {verb}; remediation running")
        if response.type in ("accept", "edit"):
            self.publish(Event(kind="remediation_started", model=record.proposal.model, via=response.via,
                               actor=response.by, proposal_id=pid, incident_id=record.proposal.incident_id,
                               text=f"{response.by} {verb} {pid} ({record.proposal.title}); remediation started"))
        return self._submit(job, lambda: self._run_answer(job, response))

    def _run_answer(self, job: Job, response: HumanResponse) -> None:
        from graphs.runner import GraphRunner

        assert job.proposal_id is not None
        with GraphRunner(self.context_factory(self.settings, response.by, response.via)) as runner:
            out = runner.answer(job.proposal_id, response)
        record = self._store_ctx.approvals.get(job.proposal_id)
        kind: EventKind = "remediation" if response.type in ("accept", "edit") else "answered"
        job.message = f"{job.proposal_id}: {out.status}" + (f" — {out.outcome}" if out.outcome else "")
        self.publish(Event(kind=kind, model=record.proposal.model, via=response.via, actor=response.by,
                           proposal_id=job.proposal_id, incident_id=record.proposal.incident_id,
                           status=out.status, steps=tuple(out.steps), text=job.message))

    # ---- jobs ------------------------------------------------------------------------------------
    def _submit(self, job: Job, work: Callable[[], None]) -> Job:
        with self._lock:
            if self._closing:
                raise DispatchError("opsagent is shutting down; try again when it is back")
            self._jobs[job.id] = job

        def run() -> None:
            try:
                work()
                job.status = "done"
            except Exception as exc:
                logger.exception("job %s (%s) failed", job.id, job.kind)
                job.status, job.message = "failed", f"{type(exc).__name__}: {exc}"
                if job.kind == "answer":
                    self.publish(Event(kind="remediation", model=job.model, via=job.via, actor=job.actor,
                                       proposal_id=job.proposal_id, status="failed", text=job.message))
            finally:
                job.finished_at = time.time()

        future = self._pool.submit(run)
        with self._lock:
            self._futures[job.id] = future
        return job

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (tests, the CLI); returns it."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        job = self.job(job_id)
        assert job is not None
        return job

    def shutdown(self, grace_s: float | None = None) -> list[Job]:
        """Refuse new jobs, wait up to ``grace_s`` for running ones; returns the jobs still running."""
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        with self._lock:
            self._closing = True
            futures = [f for f in self._futures.values() if not f.done()]
        wait_futures(futures, timeout=grace)
        self._pool.shutdown(wait=False, cancel_futures=True)
        still = [j for j in self.jobs(limit=10_000) if j.status == "running"]
        if still:
            logger.warning("stopping with %d job(s) still running; their last checkpoint stands: %s",
                           len(still), ", ".join(j.id for j in still))
        self._store_ctx.close()  # the reads' stores; a late read reopens them
        return still

