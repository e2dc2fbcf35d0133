"""Scheduled triage: APScheduler jobs per watched model (``scheduler``), what one run does (``job``) and the log
of every run (``run_log``)."""

from interfaces.scheduler.job import ScheduleError, run_triage, run_triage_job
from interfaces.scheduler.run_log import RunLog, RunRecord
from interfaces.scheduler.scheduler import (
    ScheduleEntry,
    TriageScheduler,
    job_id,
    make_trigger,
    schedule_store,
    scheduler_context,
)

__all__ = ["RunLog", "RunRecord", "ScheduleEntry", "ScheduleError", "TriageScheduler", "job_id", "make_trigger",
           "run_triage", "run_triage_job", "schedule_store", "scheduler_context"]
