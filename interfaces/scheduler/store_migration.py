"""Keep users' schedules across code moves: APScheduler's job store pickles a *reference* to the job function
("module:function"), and a job whose reference no longer imports is dropped with only a log line. Jobs written
before the layout moved the scheduler out of ``agent/`` point at ``agent.scheduler:run_triage_job``; they are
rewritten in place, once, before the scheduler reads the store."""

from __future__ import annotations

import pickle
from pathlib import Path

import sqlalchemy as sa

from ml_core.store_engine import is_url, make_engine

CURRENT_REF = "interfaces.scheduler.job:run_triage_job"
OLD_REFS = frozenset({"agent.scheduler:run_triage_job", "interfaces.scheduler.scheduler:run_triage_job"})
JOBS_TABLE = "apscheduler_jobs"  # SQLAlchemyJobStore's default table name


def migrate_job_refs(path: Path | str) -> int:
    """Point every stored job at ``CURRENT_REF`` (``path``: the SQLite file or a URL); how many were rewritten."""
    if not is_url(path) and not Path(path).exists():
        return 0
    engine = make_engine(path, begin_immediate=True)  # read-modify-write of the pickled jobs
    try:
        if not sa.inspect(engine).has_table(JOBS_TABLE):
            return 0
        jobs = sa.Table(JOBS_TABLE, sa.MetaData(), autoload_with=engine)
        moved = 0
        with engine.begin() as conn:
            for job_id, blob in conn.execute(sa.select(jobs.c.id, jobs.c.job_state)).all():
                state = pickle.loads(blob)  # a plain dict: unpickling resolves no function reference
                if state.get("func") in OLD_REFS:
                    state["func"] = CURRENT_REF
                    conn.execute(jobs.update().where(jobs.c.id == job_id)
                                 .values(job_state=pickle.dumps(state, pickle.HIGHEST_PROTOCOL)))
                    moved += 1
        return moved
    finally:
        engine.dispose()
