"""Each scheduled tick runs once, however many schedulers share the job store: a claim row per (job, tick).

Two `opsagent serve` processes on one database both run a BackgroundScheduler over the same job store, and
APScheduler 3 does not coordinate them: both read a due job before either writes its next run time, so both
would triage the model. Before a scheduler hands a run to its thread pool it inserts (job id, scheduled run
time) into ``schedule_ticks``; the primary key lets exactly one insert through, and the loser skips the run.

A claim row rather than an advisory lock: a lock only keeps two runs from overlapping, and a scheduler that
wakes a second late (a busy box) would take it after the first run released it and triage the same tick
again; the row also says who ran which tick. It works the same on SQLite (two processes on one home).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.executors.pool import ThreadPoolExecutor

from agent.leases import this_owner
from ml_core.store import Handle, Store, insert_if_absent

logger = logging.getLogger(__name__)

# Claims made longer ago than this are deleted as new ones come in; a tick is never due again that long after (the
# misfire grace is minutes), so an old row protects nothing.
KEEP_S = 7 * 24 * 3600.0

metadata = sa.MetaData()
ticks = sa.Table(
    "schedule_ticks", metadata,
    sa.Column("job_id", sa.Text, primary_key=True),
    sa.Column("tick", sa.Float, primary_key=True),       # the run's scheduled time (unix), the same in every process
    sa.Column("owner", sa.Text, nullable=False),         # host:pid:start-time of the scheduler that ran it
    sa.Column("claimed_at", sa.Float, nullable=False),
)
_c = ticks.c


class TickClaims(Handle):
    """The claims on one database (beside the job store: ``schedules.db`` or its schema)."""

    def __init__(self, target: Path | str, *, clock: Callable[[], float] = time.time):
        self.store = Store(target, metadata)
        self.clock = clock

    def claim(self, job_id: str, tick: datetime, owner: str | None = None) -> bool:
        """Whether this process may run ``job_id``'s run scheduled at ``tick`` (True for the first to ask)."""
        now = self.clock()
        with self.store.write() as conn:
            won = insert_if_absent(conn, ticks, {"job_id": job_id, "tick": tick.timestamp(),
                                                 "owner": owner or this_owner(), "claimed_at": now})
            if won:
                conn.execute(ticks.delete().where(_c.job_id == job_id, _c.claimed_at < now - KEEP_S))
        return won

    def owner(self, job_id: str, tick: datetime) -> str | None:
        """Who ran that tick, if anyone did."""
        with self.store.read() as conn:
            return conn.execute(sa.select(_c.owner).where(_c.job_id == job_id, _c.tick == tick.timestamp())).scalar()


class ClaimingExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, running a job's tick only when this process claims it (``TickClaims``).

    ``submit_job`` is APScheduler 3.11's own with the claim between the max-instances check and the submission
    (it uses the base class's ``_lock`` and ``_instances``): a tick skipped because the previous run is still
    going is not claimed, so another scheduler may still run it."""

    def __init__(self, claims: TickClaims, *, claimed: Callable[[str], bool], max_workers: int = 4):
        super().__init__(max_workers=max_workers)
        self.claims = claims
        self.claimed = claimed  # which job ids take claims (the scheduler's own poll job does not)

    def submit_job(self, job: Any, run_times: list[datetime]) -> None:
        assert self._lock is not None, "This executor has not been started yet"
        with self._lock:
            if self._instances[job.id] >= job.max_instances:
                raise MaxInstancesReachedError(job)
            if self.claimed(job.id) and not self.claims.claim(job.id, run_times[-1]):
                logger.info("%s at %s: another scheduler on this database runs it", job.id, run_times[-1])
                return
            self._do_submit_job(job, run_times)
            self._instances[job.id] += 1
