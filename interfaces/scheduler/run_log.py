"""The log of scheduled triage runs: one row per run (when, which model, how it ended), in SQLite.

It lives beside APScheduler's job store in ``schedules.db`` so `opsagent schedule list` can show each
model's last result, including runs that crashed.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from ml_core.paths import HomeLayout
from ml_core.store import Handle, Store

RunStatus = Literal["ok", "incident", "failed"]

metadata = sa.MetaData()
scheduled_runs = sa.Table(
    "scheduled_runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("via", sa.Text, nullable=False),
    sa.Column("incident_id", sa.Text),
    sa.Column("proposal_id", sa.Text),
    sa.Column("postmortem", sa.Text),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    # Added later (the Store adds them to older files): what the run meant for the model's active incident.
    sa.Column("tick", sa.Text, nullable=False, server_default=""),
    sa.Column("change", sa.Text, nullable=False, server_default=""),
    sa.Index("scheduled_runs_model", "model", "id"),
    sqlite_autoincrement=True,
)
_c = scheduled_runs.c


@dataclass(frozen=True)
class RunRecord:
    """How one triage run ended: ``detail`` is the triage summary, or the error when it failed."""

    model: str
    started_at: float
    finished_at: float
    status: RunStatus
    via: str
    incident_id: str | None = None
    proposal_id: str | None = None
    postmortem: str | None = None
    detail: str = ""
    tick: str = ""  # new, ongoing, hold, recause, clearing, resolved or quiet (agent.incident_ticks); "" failed
    change: str = ""  # what changed for people (new incident, cause, severity, resolved); "" = recorded only


_FIELDS = [f.name for f in dataclasses.fields(RunRecord)]  # the columns a record reads back, in its order


class RunLog(Handle):
    """Append and read run records; thread-safe (jobs run on several threads and share the log)."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time):
        self.path = path
        self.clock = clock
        # The job store and concurrent runs write to the same file: the store's busy timeout covers both.
        self.store = Store(path, metadata)

    @classmethod
    def for_home(cls, home: str | Path) -> RunLog:
        """The run log of the home at ``home`` (``schedules.db``)."""
        return cls(HomeLayout(Path(home).expanduser().resolve()).schedules_db)

    def append(self, record: RunRecord) -> None:
        """Record one finished run."""
        with self.store.write() as conn:
            conn.execute(scheduled_runs.insert().values(**dataclasses.asdict(record)))

    def recent(self, model: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The newest runs first, of one model or of all."""
        query = sa.select(*(_c[name] for name in _FIELDS)).order_by(_c.id.desc()).limit(limit)
        if model:
            query = query.where(_c.model == model)
        with self.store.read() as conn:
            return [RunRecord(*row) for row in conn.execute(query)]

    def last(self, model: str) -> RunRecord | None:
        """The model's latest run, or None if it never ran."""
        runs = self.recent(model, limit=1)
        return runs[0] if runs else None
