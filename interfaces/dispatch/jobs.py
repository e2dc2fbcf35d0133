"""Background jobs: a triage or an answer runs on a small thread pool, so a web request or a Slack click
returns at once while the work goes on (a retrain takes minutes); ``shutdown`` waits for them up to a grace."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any, Literal

from interfaces.allocator import release_free_memory
from interfaces.dispatch.errors import DispatchError

logger = logging.getLogger(__name__)

JobKind = Literal["triage", "answer", "recover"]
JobStatus = Literal["running", "done", "failed"]


@dataclass
class Job:
    """A triage or an answer running in the background."""

    id: str
    kind: JobKind
    actor: str
    via: str
    started_at: float
    model: str | None = None
    proposal_id: str | None = None
    status: JobStatus = "running"
    finished_at: float | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("id", "kind", "actor", "via", "model", "proposal_id", "status",
                                              "started_at", "finished_at", "message")}


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:8]}"


class JobPool:
    """Runs jobs on ``workers`` threads and keeps every job's record. Thread-safe."""

    def __init__(self, clock: Callable[[], float], *, workers: int = 2,
                 on_failure: Callable[[Job], None] = lambda _job: None):
        self.clock = clock
        self.on_failure = on_failure  # told about a job that raised (its message says what)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dispatcher")
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._futures: dict[str, Future[None]] = {}
        self._closing = False

    def submit(self, job: Job, work: Callable[[], None]) -> Job:
        """Run ``work`` in the background as ``job``; refused once shutting down."""
        with self._lock:
            if self._closing:
                raise DispatchError("opsagent is shutting down; try again when it is back")
            self._jobs[job.id] = job
        future = self._pool.submit(self._run, job, work)
        with self._lock:
            self._futures[job.id] = future
        return job

    def _run(self, job: Job, work: Callable[[], None]) -> None:
        try:
            work()
            job.status = "done"
        except Exception as exc:
            logger.exception("job %s (%s) failed", job.id, job.kind)
            job.status, job.message = "failed", f"{type(exc).__name__}: {exc}"
            self.on_failure(job)
        finally:
            job.finished_at = self.clock()
            release_free_memory()  # a triage or a retrain frees hundreds of MiB: give it back, as scheduled runs do

    def jobs(self, limit: int = 20) -> list[Job]:
        """The latest jobs first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)[:limit]

    def job(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def running_for(self, proposal_id: str) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values()
                         if j.proposal_id == proposal_id and j.status == "running"), None)

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """Block until the job ends (tests, Slack without a channel); returns it."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        job = self.job(job_id)
        if job is None:
            raise DispatchError(f"no job {job_id!r}")
        return job

    def shutdown(self, grace_s: float) -> list[Job]:
        """Refuse new jobs, wait up to ``grace_s`` for running ones; returns the jobs still running."""
        with self._lock:
            self._closing = True
            futures = [f for f in self._futures.values() if not f.done()]
        wait_futures(futures, timeout=grace_s)
        self._pool.shutdown(wait=False, cancel_futures=True)
        still = [j for j in self.jobs(limit=10_000) if j.status == "running"]
        if still:
            logger.warning("stopping with %d job(s) still running; their last checkpoint stands: %s",
                           len(still), ", ".join(j.id for j in still))
        return still
