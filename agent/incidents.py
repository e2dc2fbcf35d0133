"""Incidents: one row per triage that found something, from detection to close, in the approvals file.

An incident links what triage concluded (category, culprit, action, which brain, what it cost) to what
came of it: the post-mortem file, the proposal filed, and the memory written about it.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.audit import Db

IncidentStatus = Literal["open", "proposed", "mitigated", "closed", "no_action"]
LIST_HINT = "list incident ids with `opsagent incidents list`"
_FIXED = frozenset({"id", "model", "opened_at", "updated_at"})  # identity and history; update() refuses them

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    opened_at REAL NOT NULL,
    status TEXT NOT NULL,
    proposal_id TEXT,
    body TEXT NOT NULL               -- the whole record as JSON
);
CREATE INDEX IF NOT EXISTS incidents_model ON incidents(model, opened_at);
CREATE INDEX IF NOT EXISTS incidents_proposal ON incidents(proposal_id);
"""


class IncidentError(Exception):
    """A user-facing refusal: unknown or ambiguous id, a field that does not exist or cannot change."""


class IncidentRecord(BaseModel):
    """One incident: the window triage looked at, what it concluded, and what it led to."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = Field(default_factory=lambda: f"inc-{uuid.uuid4().hex[:8]}")
    model: str
    opened_at: float
    window_since: float | None = None
    window_until: float | None = None
    status: IncidentStatus = "open"
    category: str = "none"
    culprit: list[str] = Field(default_factory=list, description="features or versions to blame")
    action: str = "none"
    summary: str = ""
    brain: str = Field("offline policy", description="which brain diagnosed it")
    postmortem_path: str | None = None
    proposal_id: str | None = None
    memory_id: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    updated_at: float


class IncidentStore:
    """Incidents in their own table of the approvals SQLite file (own connection, thread-safe)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        self.path = path
        self.clock = clock
        self.db = Db(path)
        self.db.schema(SCHEMA)

    def open(self, model: str, *, window_since: float | None = None, window_until: float | None = None,
             opened_at: float | None = None, **fields: Any) -> IncidentRecord:
        """Open an incident; ``fields`` are any other ``IncidentRecord`` fields (status, category, culprit...)."""
        now = self.clock()
        at = now if opened_at is None else opened_at
        try:
            record = IncidentRecord(model=model, window_since=window_since, window_until=window_until, opened_at=at,
                                    updated_at=now, **fields)
        except ValidationError as exc:
            raise IncidentError(f"invalid incident: {_errors(exc)}") from exc
        with self.db.write() as conn:
            conn.execute("INSERT INTO incidents (id, model, opened_at, status, proposal_id, body) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         (record.id, record.model, record.opened_at, record.status, record.proposal_id,
                          record.model_dump_json()))
        return record

    def get(self, incident_id: str) -> IncidentRecord:
        """The incident with this id, or with this unique id prefix."""
        key = incident_id.strip()
        if not key:
            raise IncidentError(f"give an incident id; {LIST_HINT}")
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self.db.read("SELECT id, body FROM incidents WHERE id = ? OR id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 6",
                            (key, escaped + "%"))
        exact = [r for r in rows if r["id"] == key]
        if exact:
            rows = exact
        if not rows:
            raise IncidentError(f"no incident {key!r}; {LIST_HINT}")
        if len(rows) > 1:
            shown = ", ".join(r["id"] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise IncidentError(f"{key!r} matches several incidents ({shown}); give more of the id")
        return IncidentRecord.model_validate_json(rows[0]["body"])

    def list(self, model: str | None = None, limit: int = 20) -> builtins.list[IncidentRecord]:
        """The latest ``limit`` incidents, newest first, optionally one model's."""
        where, params = ("WHERE model = ?", (model,)) if model is not None else ("", ())
        rows = self.db.read(f"SELECT body FROM incidents {where} ORDER BY opened_at DESC, rowid DESC LIMIT ?",
                            (*params, max(int(limit), 0)))
        return [IncidentRecord.model_validate_json(r["body"]) for r in rows]

    def update(self, incident_id: str, **fields: Any) -> IncidentRecord:
        """Change fields of an incident (validated); ``updated_at`` moves to now."""
        fixed = sorted(set(fields) & _FIXED)
        if fixed:
            raise IncidentError(f"cannot change {', '.join(fixed)} of an incident")
        unknown = sorted(set(fields) - set(IncidentRecord.model_fields))
        if unknown:
            raise IncidentError(f"incidents have no field {', '.join(unknown)}")
        iid = self.get(incident_id).id
        with self.db.write() as conn:
            # Re-read inside the write transaction so two updaters of different fields both land.
            current = IncidentRecord.model_validate_json(
                conn.execute("SELECT body FROM incidents WHERE id = ?", (iid,)).fetchone()["body"])
            try:
                record = IncidentRecord.model_validate({**current.model_dump(), **fields, "updated_at": self.clock()})
            except ValidationError as exc:
                raise IncidentError(f"invalid incident update: {_errors(exc)}") from exc
            conn.execute("UPDATE incidents SET status = ?, proposal_id = ?, body = ? WHERE id = ?",
                         (record.status, record.proposal_id, record.model_dump_json(), iid))
        return record

    def for_proposal(self, proposal_id: str) -> IncidentRecord | None:
        """The incident that filed this proposal, if any (the latest, should there be several)."""
        rows = self.db.read("SELECT body FROM incidents WHERE proposal_id = ? ORDER BY opened_at DESC, rowid DESC "
                            "LIMIT 1", (proposal_id,))
        return IncidentRecord.model_validate_json(rows[0]["body"]) if rows else None

    def close(self) -> None:
        self.db.close()


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
