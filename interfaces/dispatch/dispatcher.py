"""The dispatcher: what the web page, the Slack bot and the scheduler share inside `opsagent serve`.

Every interface reaches the same graphs, memory and approvals inbox through it:

- ``stream_chat`` runs one chat turn (events as `GraphRunner.stream_chat` yields them);
- ``start_triage`` and ``answer`` run triage and remediation as background jobs (``jobs``), so a web request
  or a Slack click returns at once while the work goes on;
- every finished job, and every scheduled triage (``on_scheduled_run``), becomes an ``Event`` on the bus
  (``events``) for the subscribers (the Slack notifier posts them, the web page lists them);
- ``may_approve`` is the approver allowlist (``approvers``); a refused answer changes nothing and is audited;
- ``shutdown`` waits (up to a grace) for running jobs: LangGraph checkpoints each step, each store write is one
  transaction, so a stop never leaves anything half-written.

Each job builds its own context and `GraphRunner` (its own checkpointer connection): jobs run on threads. The
contexts borrow one ``SharedHandles`` (registry client, memory) for the process, and each is closed when its job
ends, so a long-running `opsagent serve` does not open new handles every tick (``job_context``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from agent.approvals import ApprovalError, ProposalRecord, not_pending
from agent.context import OpsContext, SharedHandles
from agent.llm import UsageMeter
from agent.proposals import Accept, Edit, HumanResponse, ProposalEditError, Respond
from agent.settings import Settings
from interfaces.dispatch.approvers import ApproverPolicy
from interfaces.dispatch.checks import chat_message
from interfaces.dispatch.errors import DispatchError
from interfaces.dispatch.events import Event, EventBus, EventKind
from interfaces.dispatch.jobs import Job, JobPool, new_job_id
from interfaces.scheduler import RunRecord, run_triage

logger = logging.getLogger(__name__)

# Builds the context a job runs with: (settings, actor, via). Tests swap it to replay canary traffic or inject a
# scripted LLM; `opsagent serve` gives the scheduler the same factory.
ContextFactory = Callable[[Settings, str, str], OpsContext]
# Ticks of an active incident that change nothing people were told, unless they carry a change.
_RECORD_ONLY = frozenset({"ongoing", "hold", "clearing"})
_VERBS = {"accept": "approved", "edit": "edited and approved", "response": "answered", "ignore": "rejected"}


def default_context(settings: Settings, actor: str, via: str) -> OpsContext:
    return OpsContext(settings, actor=actor, via=via,
                      progress=lambda m: logger.info("%s/%s: %s", via, actor, m))


class Dispatcher:
    """Shared by the interfaces of one `opsagent serve` process. Thread-safe."""

    def __init__(self, settings: Settings, *, context_factory: ContextFactory = default_context,
                 workers: int = 2, keep_events: int = 200):
        self.settings = settings
        self.context_factory = context_factory
        self.shared = SharedHandles(settings)
        self.llm_usage = UsageMeter()  # every LLM call of this process's graph runs (GraphRunner's callbacks)
        self._run_watchers: list[Callable[[RunRecord], None]] = []
        self._store_ctx = self.job_context("opsagent", "web")  # reads: inbox, registry, incidents
        self.clock = self._store_ctx.clock
        self.approvers = ApproverPolicy(settings)
        self.bus = EventBus(keep_events)
        self.pool = JobPool(self.clock, workers=workers, on_failure=self._job_failed)

    def job_context(self, actor: str, via: str) -> OpsContext:
        """A context from the factory, borrowing this process's shared handles unless the factory set its own.
        The caller closes it (``with``) when the job ends."""
        ctx = self.context_factory(self.settings, actor, via)
        if ctx.shared is None:
            ctx.shared = self.shared
        if self.llm_usage not in ctx.callbacks:
            ctx.callbacks.append(self.llm_usage)
        return ctx

    def watch_runs(self, callback: Callable[[RunRecord], None]) -> None:
        """Call ``callback`` with every finished triage of this process (web, Slack, scheduled): /metrics."""
        self._run_watchers.append(callback)

    def _ran(self, record: RunRecord) -> None:
        for watcher in self._run_watchers:
            try:
                watcher(record)
            except Exception:  # a broken watcher must not fail the triage it watches
                logger.exception("run watcher failed for %s", record.model)

    # ---- events and jobs -------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` with every event (on the thread that produced it; exceptions are logged)."""
        self.bus.subscribe(callback)

    def publish(self, event: Event) -> None:
        """Put an event on the bus: every subscriber gets it, and the web page lists it."""
        self.bus.publish(event)

    def _announce(self, kind: EventKind, text: str, *, via: str, actor: str, **fields: object) -> Event:
        """Publish an event stamped with the dispatcher's clock."""
        event = Event(kind=kind, text=text, via=via, actor=actor, at=self.clock(), **fields)  # type: ignore[arg-type]
        self.bus.publish(event)
        return event

    def events(self, limit: int = 50) -> list[Event]:
        """Newest first."""
        return self.bus.latest(limit)

    def jobs(self, limit: int = 20) -> list[Job]:
        return self.pool.jobs(limit)

    def job(self, job_id: str) -> Job | None:
        return self.pool.job(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (tests, the CLI); returns it."""
        return self.pool.wait(job_id, timeout)

    def shutdown(self, grace_s: float | None = None) -> list[Job]:
        """Refuse new jobs, wait up to ``grace_s`` for running ones; returns the jobs still running."""
        still = self.pool.shutdown(self.settings.shutdown_grace_s if grace_s is None else grace_s)
        self._store_ctx.close()  # the reads' stores; a late read reopens them
        return still

    # ---- reads -----------------------------------------------------------------------------------
    @property
    def ctx(self) -> OpsContext:
        """A context for reads (inbox, registry, incidents); jobs get their own."""
        return self._store_ctx

    def models(self) -> list[str]:
        return self._store_ctx.registry.models()

    def pending(self) -> list[ProposalRecord]:
        store = self._store_ctx.approvals
        store.expire_due(self.clock(), via="web")
        return store.pending()

    def model_status(self, model: str) -> str:
        """Where a model stands (champion, canary, serving), as readable lines from the model_status tool."""
        import json

        from graphs.chat_offline import render
        from tools.catalog import call_tool

        raw = call_tool(self._store_ctx, "model_status", {"model": model})
        try:
            return "\n".join(render(json.loads(raw)))
        except ValueError:
            return raw  # "error: ..." from the tool, already a sentence

    def may_approve(self, actor: str, via: str) -> bool:
        return self.approvers.may_approve(actor, via)

    # ---- chat ------------------------------------------------------------------------------------
    def stream_chat(self, text: str, *, thread_id: str, actor: str, via: str) -> Iterator[tuple[str, str]]:
        """One chat turn: ("token"|"call"|"result"|"answer"|"brain", text) events, as the graph runs."""
        from graphs.runner import GraphRunner

        text = chat_message(text, thread_id)
        with self.job_context(actor, via) as ctx, GraphRunner(ctx) as runner:
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
        job = Job(id=new_job_id(), kind="triage", actor=actor, via=via, model=name, started_at=self.clock(),
                  message=f"triage of {name} running")
        return self.pool.submit(job, lambda: self._run_triage(job, name))

    def _run_triage(self, job: Job, model: str) -> None:
        with self.job_context(job.actor, job.via) as ctx:
            record = run_triage(ctx, model)
        self._ran(record)
        if record.status == "failed":
            raise RuntimeError(record.detail)
        job.message = self._publish_run(record, actor=job.actor).text

    def on_scheduled_run(self, record: RunRecord) -> None:
        """The scheduler's ``on_result``: a scheduled triage's outcome goes to the subscribers when it changed
        something people were told (a new incident, its cause or severity, a new proposal, its resolution).
        A tick that only found an ongoing incident again, or counted a quiet tick towards resolving it, is in
        the run log and the incident's timeline, and sends nothing."""
        self._ran(record)
        if record.status != "failed" and record.tick in _RECORD_ONLY and not record.change:
            logger.info("scheduled triage of %s: %s (recorded, not announced)", record.model, record.detail)
            return
        self._publish_run(record, actor="scheduler")

    def _publish_run(self, record: RunRecord, *, actor: str) -> Event:
        kind: EventKind
        if record.tick == "resolved":
            kind, text = "resolved", f"{record.model}: {record.detail}"
        elif record.status == "incident":
            kind, text = "incident", f"{record.model}: " + (f"{record.change} — " if record.tick not in ("new", "")
                                                            and record.change else "") + record.detail
        elif record.status == "ok":
            kind, text = "quiet", f"{record.model}: nothing to report ({record.detail})"
        else:
            kind, text = "triage_failed", f"{record.model}: triage failed: {record.detail}"
        return self._announce(kind, text, via=record.via, actor=actor, model=record.model,
                            incident_id=record.incident_id, proposal_id=record.proposal_id,
                            postmortem=record.postmortem)

    # ---- answers ---------------------------------------------------------------------------------
    def answer(self, proposal_id: str, response: HumanResponse) -> Job:
        """Check the person may answer and the proposal is pending, then resume its thread in the background.

        Raises ``NotApprover`` (audited, nothing changes) or ``DispatchError`` (unknown, not pending, busy, a bad
        edit). An edit is validated here, once, so a bad one is refused before anything is queued.
        """
        record = self._pending_record(proposal_id, response)
        pid = record.proposal.id
        if isinstance(response, Edit):
            try:
                response = response.validated(record.proposal)
            except ProposalEditError as exc:
                raise DispatchError(str(exc)) from exc
        verb = _VERBS[response.type]
        job = Job(id=new_job_id(), kind="answer", actor=response.by, via=response.via, model=record.proposal.model,
                  proposal_id=pid, started_at=self.clock(), message=f"{pid} {verb}; remediation running")
        if isinstance(response, Accept | Edit):
            self._announce("remediation_started", f"{response.by} {verb} {pid} ({record.proposal.title}); "
                         "remediation started", via=response.via, actor=response.by, model=record.proposal.model,
                         proposal_id=pid, incident_id=record.proposal.incident_id)
        answer = response
        return self.pool.submit(job, lambda: self._run_answer(job, answer))

    def _pending_record(self, proposal_id: str, response: HumanResponse) -> ProposalRecord:
        """The proposal, if this person may answer it now; refusals are audited and published."""
        store = self._store_ctx.approvals
        store.expire_due(self.clock(), via=response.via)
        try:
            record = store.get(proposal_id)
        except ApprovalError as exc:
            raise DispatchError(str(exc)) from exc
        pid = record.proposal.id
        # Only comments are open to everyone: they revise the proposal, which then waits for an approver again.
        if not isinstance(response, Respond) and not self.may_approve(response.by, response.via):
            store.note(pid, "refused-not-approver", actor=response.by, via=response.via,
                       detail={"answer": response.type})
            self._announce("refused", f"{response.by} is not an approver; {pid} was not changed", via=response.via,
                         actor=response.by, model=record.proposal.model, proposal_id=pid,
                         incident_id=record.proposal.incident_id)
            raise self.approvers.refusal(response.by, response.via)
        if record.status != "pending":
            raise DispatchError(not_pending(record))
        if self.pool.running_for(pid):
            raise DispatchError(f"proposal {pid} is already being answered; wait for that to finish")
        return record

    def _run_answer(self, job: Job, response: HumanResponse) -> None:
        from graphs.runner import GraphRunner

        assert job.proposal_id is not None
        with self.job_context(response.by, response.via) as ctx, GraphRunner(ctx) as runner:
            out = runner.answer(job.proposal_id, response)
        record = self._store_ctx.approvals.get(job.proposal_id)
        job.message = f"{job.proposal_id}: {out.status}" + (f" — {out.outcome}" if out.outcome else "")
        self._announce("remediation" if isinstance(response, Accept | Edit) else "answered", job.message,
                     via=response.via, actor=response.by, model=record.proposal.model, proposal_id=job.proposal_id,
                     incident_id=record.proposal.incident_id, status=out.status, steps=tuple(out.steps))

    # ---- after a crash ---------------------------------------------------------------------------
    def recover_stranded(self) -> Job:
        """In the background: resume (or mark interrupted) what a dead process left executing (graphs.recovery);
        each proposal taken over is announced like a remediation."""
        job = Job(id=new_job_id(), kind="recover", actor="opsagent", via="serve", started_at=self.clock(),
                  message="looking for remediations a stopped process left unfinished")
        return self.pool.submit(job, lambda: self._run_recover(job))

    def _run_recover(self, job: Job) -> None:
        from graphs.runner import GraphRunner

        with self.job_context("opsagent", "serve") as ctx, GraphRunner(ctx) as runner:
            found = runner.recover(via="serve")
        for item in found:
            record = self._store_ctx.approvals.get(item.proposal_id)
            self._announce("remediation", f"{item.proposal_id} {item.action} after a restart: {item.detail}",
                           via="serve", actor="opsagent", model=record.proposal.model, proposal_id=item.proposal_id,
                           incident_id=record.proposal.incident_id, status=record.status)
        job.message = (f"{len(found)} unfinished remediation(s) taken over: "
                       + ", ".join(f"{i.proposal_id} {i.action}" for i in found)) if found else "nothing unfinished"

    def _job_failed(self, job: Job) -> None:
        if job.kind == "answer":
            self._announce("remediation", job.message, via=job.via, actor=job.actor, model=job.model,
                         proposal_id=job.proposal_id, status="failed")
