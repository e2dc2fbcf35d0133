"""What one scheduled run does: triage a model through the graphs and append how it ended to the run log.

APScheduler's job store keeps a *reference* to ``run_triage_job`` with plain arguments (home, model), so the
job cannot carry settings or a context. The scheduler that runs it registers, for its home, how to build a
context from the settings it was given at its edge (``register``); the job looks that up and never builds
settings itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.context import OpsContext
from interfaces.allocator import release_free_memory
from interfaces.scheduler.run_log import RunLog, RunRecord

logger = logging.getLogger(__name__)

# Builds the context one scheduled run gets: (model) -> OpsContext. One per home, set by a started scheduler.
RunContext = Callable[[str], OpsContext]
_contexts: dict[str, RunContext] = {}
_lock = threading.Lock()


class ScheduleError(ValueError):
    """Bad schedule input (trigger, model, time zone): the message says what to do."""


def register(home: str, make_context: RunContext) -> None:
    """Scheduled runs for ``home`` in this process build their context with ``make_context``."""
    with _lock:
        _contexts[home] = make_context


def unregister(home: str, make_context: RunContext) -> None:
    with _lock:
        if _contexts.get(home) is make_context:
            del _contexts[home]


def run_triage_job(home: str, model: str) -> RunRecord:
    """The scheduled job: triage MODEL with the context its scheduler registered for HOME; never raises."""
    with _lock:
        make_context = _contexts.get(home)
    if make_context is None:  # a job fired by something other than a started TriageScheduler
        error = ScheduleError(f"no scheduler for {home} is running in this process; start one with `opsagent serve`")
        with RunLog.for_home(home) as log:
            return failed(log, model, "scheduler", log.clock(), error)
    # The run owns the context it was given: closing it releases the stores it opened (each tick used to leave
    # its approvals/incidents engines for the garbage collector; shared handles stay open for the next tick).
    try:
        with make_context(model) as ctx:
            return run_triage(ctx, model)
    finally:
        release_free_memory()


def run_triage(ctx: OpsContext, model: str) -> RunRecord:
    """Triage one model now through the graphs with ``ctx``, and append how it ended to the run log."""
    from graphs.runner import GraphRunner

    started = ctx.clock()
    try:
        known = ctx.registry.models()
        if model not in known:
            raise ScheduleError(f"no registered model '{model}'; registered: {', '.join(known) or 'none yet'}")
        with GraphRunner(ctx) as runner:
            out = runner.triage(model)
    except Exception as exc:
        with RunLog(ctx.layout.schedules_store, clock=ctx.clock) as log:
            return failed(log, model, ctx.via, started, exc)
    # A tick of an ongoing incident (found again, clearing, resolved) says what it added to its timeline.
    detail = out.diagnosis.summary if out.diagnosis.detected else out.summary
    record = RunRecord(model=model, started_at=started, finished_at=ctx.clock(),
                       status="incident" if out.diagnosis.detected else "ok", via=ctx.via,
                       incident_id=out.incident_id, proposal_id=out.proposal_id,
                       postmortem=out.postmortem, detail=detail if out.tick in ("new", "quiet") else
                       f"{out.incident_id}: {out.note}", tick=out.tick, change=out.notify)
    release_free_memory()  # before the run is logged: whoever reads the log then sees the run's memory returned
    with RunLog(ctx.layout.schedules_store, clock=ctx.clock) as log:
        log.append(record)
    logger.info("triage of %s (%s): %s %s", model, ctx.via, record.status, record.incident_id)
    return record


def failed(log: RunLog, model: str, via: str, started: float, exc: Exception) -> RunRecord:
    """Log and record a run that failed (a user error without a traceback, a crash with one)."""
    if isinstance(exc, ScheduleError):
        logger.error("triage of %s (%s) failed: %s", model, via, exc)
    else:
        logger.exception("triage of %s (%s) crashed", model, via)
    record = RunRecord(model=model, started_at=started, finished_at=log.clock(), status="failed", via=via,
                       detail=f"{type(exc).__name__}: {exc}")
    try:
        log.append(record)
    except Exception:  # the log itself is broken: the scheduler must still go on
        logger.exception("could not record the failed run of %s", model)
    return record
