"""The log of scheduled triage runs: one row per run (when, which model, how it ended), in SQLite.

It lives beside APScheduler's job store in ``schedules.db`` so `opsagent schedule list` can show each
model's last result, including runs that crashed.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ml_core.paths import HomeLayout

RunStatus = Literal["ok", "incident", "failed"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scheduled_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL NOT NULL,
    status TEXT NOT NULL,
    via TEXT NOT NULL,
    incident_id TEXT,
    proposal_id TEXT,
    postmortem TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS scheduled_runs_model ON scheduled_runs (model, id);
"""


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


class RunLog:
    """Append and read run records. Each call opens its own connection: jobs run on several threads."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        self.path = path
        self.clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @classmethod
    def for_home(cls, home: str | Path) -> RunLog:
        """The run log of the home at ``home`` (``schedules.db``)."""
        return cls(HomeLayout(Path(home).expanduser().resolve()).schedules_db)

    def _connect(self) -> sqlite3.Connection:
        # A generous timeout: the job store and concurrent runs write to the same file.
        return sqlite3.connect(self.path, timeout=30)

    def append(self, record: RunRecord) -> None:
        """Record one finished run."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO scheduled_runs (model, started_at, finished_at, status, via, incident_id, proposal_id,"
                " postmortem, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (record.model, record.started_at, record.finished_at, record.status, record.via,
                 record.incident_id, record.proposal_id, record.postmortem, record.detail))

    def recent(self, model: str | None = None, limit: int = 50) -> list[RunRecord]:
        """The newest runs first, of one model or of all."""
        where, args = ("WHERE model = ?", [model]) if model else ("", [])
        with self._connect() as db:
            rows = db.execute(
                "SELECT model, started_at, finished_at, status, via, incident_id, proposal_id, postmortem, detail"
                f" FROM scheduled_runs {where} ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [RunRecord(*row) for row in rows]

    def last(self, model: str) -> RunRecord | None:
        """The model's latest run, or None if it never ran."""
        runs = self.recent(model, limit=1)
        return runs[0] if runs else None
