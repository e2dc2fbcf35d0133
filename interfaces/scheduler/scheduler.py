"""Scheduled triage: one APScheduler job per watched model, kept in a job store in OPSAGENT_HOME (SQLite) or
the team database (``OPSAGENT_DATABASE_URL``); several schedulers on one store run each tick once (``ticks``).

Each job calls ``interfaces.scheduler.job.run_triage_job(home, model)`` (the job store keeps a reference to it
with plain arguments), which runs the triage graph through `GraphRunner` with the context this scheduler
builds from the settings it was given. A run never raises: a crash is logged and written to the run log
(`interfaces.scheduler.run_log`), and the scheduler goes on. At most one run per model at a time; runs missed
while the scheduler was down or busy are coalesced into one, if they are no later than
``schedule_misfire_grace_s``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agent.context import OpsContext, SharedHandles
from agent.settings import Settings
from interfaces.scheduler.job import ScheduleError, register, run_triage_job, unregister
from interfaces.scheduler.run_log import RunLog, RunRecord
from interfaces.scheduler.store_migration import migrate_job_refs
from interfaces.scheduler.ticks import ClaimingExecutor, TickClaims
from ml_core.store_engine import make_engine

logger = logging.getLogger(__name__)

JOB_PREFIX = "triage:"
_INTERNAL = "internal"  # an in-memory store for the scheduler's own poll job; never persisted


@dataclass(frozen=True)
class ScheduleEntry:
    """One watched model as `opsagent schedule list` shows it."""

    model: str
    trigger: str
    next_run: datetime | None  # None: paused
    last: RunRecord | None


def job_id(model: str) -> str:
    return f"{JOB_PREFIX}{model}"


def _poll() -> None:
    """No-op: its firing makes the scheduler re-read the job store (other processes add and remove jobs)."""


# ---- the scheduler ------------------------------------------------------------------------------
def _timezone(name: str | None) -> tzinfo | None:
    if name is None:
        return None  # APScheduler uses the machine's local zone
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise ScheduleError(f"unknown time zone '{name}' in OPSAGENT_SCHEDULE_TIMEZONE; "
                            f"use an IANA name such as 'UTC' or 'Europe/Paris'") from exc


def make_trigger(every_minutes: float | None, cron: str | None, tz: tzinfo | None = None
                 ) -> tuple[IntervalTrigger | CronTrigger, str]:
    """The trigger for exactly one of an interval in minutes or a five-field cron expression, and its label."""
    if (every_minutes is None) == (cron is None):
        raise ScheduleError("give exactly one of --every MINUTES or --cron 'EXPR' (e.g. --every 15)")
    if every_minutes is not None:
        if not every_minutes > 0:
            raise ScheduleError(f"--every must be a positive number of minutes, not {every_minutes:g}")
        return IntervalTrigger(minutes=every_minutes, timezone=tz), f"every {every_minutes:g} min"
    assert cron is not None
    try:
        trigger = CronTrigger.from_crontab(cron.strip(), timezone=tz)
    except ValueError as exc:
        raise ScheduleError(f"bad cron expression '{cron}': {exc}. Use five fields, minute hour day month "
                            f"weekday, e.g. '*/15 * * * *' (every 15 minutes)") from exc
    return trigger, f"cron {' '.join(cron.split())}"


def scheduler_context(settings: Settings, model: str, shared: SharedHandles | None = None) -> OpsContext:
    """The context of one scheduled run: the scheduler's settings, acting as 'scheduler', progress to the log,
    borrowing the scheduler's ``shared`` handles (registry, memory) rather than opening its own each tick."""
    return OpsContext(settings, via="scheduler", actor="scheduler", shared=shared,
                      progress=lambda m: logger.debug("triage of %s: %s", model, m))


class TriageScheduler:
    """A BackgroundScheduler over the home's persistent job store. `start()` runs jobs; `start(paused=True)`
    (or `schedule_store`) only reads and edits them. ``on_result`` receives each finished run (Slack, web);
    ``make_context`` builds each run's context (default: ``scheduler_context`` of these settings)."""

    def __init__(self, settings: Settings, *, on_result: Callable[[RunRecord], None] | None = None,
                 make_context: Callable[[str], OpsContext] | None = None, max_workers: int = 4):
        self.settings = settings
        self.layout = settings.layout
        self.log = RunLog(self.layout.schedules_store)
        self.claims = TickClaims(self.layout.schedules_store)  # each tick runs once across schedulers (ticks.py)
        self.shared = SharedHandles(settings)  # one registry client and memory for all runs of this scheduler
        self.make_context = make_context or (lambda model: scheduler_context(settings, model, self.shared))
        migrate_job_refs(self.layout.schedules_store)
        self.tz = _timezone(settings.schedule_timezone)
        self.on_result = on_result
        self.scheduler = BackgroundScheduler(
            # Our engine: the stores' WAL and busy timeout, and a write lock taken up front (see make_engine).
            jobstores={"default": SQLAlchemyJobStore(engine=make_engine(self.layout.schedules_store,
                                                                        begin_immediate=True)),
                       _INTERNAL: MemoryJobStore()},
            executors={"default": ClaimingExecutor(self.claims, claimed=lambda job: job.startswith(JOB_PREFIX),
                                                   max_workers=max_workers)},
            # One run per model at a time; missed runs coalesced into one; a run later than the grace is skipped.
            job_defaults={"max_instances": 1, "coalesce": True,
                          "misfire_grace_time": settings.schedule_misfire_grace_s},
            **({"timezone": self.tz} if self.tz else {}))
        self.scheduler.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self, *, paused: bool = False) -> TriageScheduler:
        """Start the scheduler thread; when not paused, jobs run and the store is re-read every poll."""
        if not paused:
            # Registered before the thread starts: an overdue job may run the moment it does, and a job that finds
            # no context fails its tick ("no scheduler ... is running"), which a loaded machine made happen.
            register(str(self.layout.home), self.make_context)
        self.scheduler.start(paused=paused)
        if not paused:
            self.scheduler.add_job(_poll, IntervalTrigger(seconds=self.settings.schedule_poll_s), id="poll",
                                   jobstore=_INTERNAL, replace_existing=True)
        return self

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop; with ``wait``, running triages finish first."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=wait)  # the job store disposes of its engine
        unregister(str(self.layout.home), self.make_context)
        self.log.close()
        self.claims.close()

    def add(self, model: str, *, every_minutes: float | None = None, cron: str | None = None) -> Job:
        """Watch MODEL on an interval or a cron expression; replaces the model's previous schedule."""
        if not model.strip():
            raise ScheduleError("the model name is empty")
        trigger, label = make_trigger(every_minutes, cron, self.tz)
        return self.scheduler.add_job(run_triage_job, trigger, args=[str(self.layout.home), model],
                                      id=job_id(model), name=label, replace_existing=True)

    def remove(self, model: str) -> None:
        try:
            self.scheduler.remove_job(job_id(model))
        except JobLookupError as exc:
            raise ScheduleError(f"no schedule for '{model}'; `opsagent schedule list` shows them") from exc

    def run_now(self, model: str) -> RunRecord:
        """One triage of MODEL now, on the calling thread, with this scheduler's context; recorded in the log."""
        from interfaces.scheduler.job import run_triage

        with self.make_context(model) as ctx:
            return run_triage(ctx, model)

    def job(self, model: str) -> Job | None:
        return self.scheduler.get_job(job_id(model), jobstore="default")

    def entries(self) -> list[ScheduleEntry]:
        """Watched models with their trigger, next run and last recorded result."""
        jobs = [j for j in self.scheduler.get_jobs(jobstore="default") if j.id.startswith(JOB_PREFIX)]
        return [ScheduleEntry(model=j.id[len(JOB_PREFIX):], trigger=j.name,
                              next_run=getattr(j, "next_run_time", None), last=self.log.last(j.id[len(JOB_PREFIX):]))
                for j in sorted(jobs, key=lambda j: j.id)]

    def _on_event(self, event: Any) -> None:
        if not str(getattr(event, "job_id", "")).startswith(JOB_PREFIX):
            return
        if event.code == EVENT_JOB_EXECUTED and self.on_result and isinstance(event.retval, RunRecord):
            try:
                self.on_result(event.retval)
            except Exception:  # a broken notifier must not stop the scheduler
                logger.exception("on_result failed for %s", event.job_id)
        elif event.code == EVENT_JOB_ERROR:  # run_triage_job catches everything; this is a last resort
            logger.error("job %s raised: %r", event.job_id, event.exception)
        # EVENT_JOB_MAX_INSTANCES (previous run still going) and EVENT_JOB_MISSED: APScheduler logs them itself.


@contextmanager
def schedule_store(settings: Settings) -> Iterator[TriageScheduler]:
    """A paused scheduler for reading and editing the job store (the CLI): nothing runs in it."""
    sched = TriageScheduler(settings).start(paused=True)
    try:
        yield sched
    finally:
        sched.shutdown(wait=False)
