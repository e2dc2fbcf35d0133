"""Incidents: one row per ongoing problem of a model, from detection to close, in the approvals file.

An incident links what triage concluded (category, culprit, action, which brain, what it cost) to what
came of it: the post-mortem file, the proposal filed, and the memory written about it. A scheduled triage
that finds the same cause again updates the model's *active* incident (its ticks, figures and timeline)
instead of opening another; ``agent.incident_ticks`` decides what each tick means for it.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ml_core.store import Handle, Store, insertion_order_column, rowid

# Before a remediation ends: open, proposed (a proposal awaits), no_action (nothing to propose). After it: the
# remediation's status (agent.remediation_status: open, mitigated, resolved, won't fix), the very rule the
# post-mortem's status line follows. ``closed`` is only read back from homes written before that rule.
IncidentStatus = Literal["open", "proposed", "mitigated", "closed", "no_action", "resolved", "won't fix"]
# Statuses of an incident still being watched: a later tick updates it, quiet ticks resolve it. Mitigated (a
# rolled-back release: why it regressed is still open) and won't fix (a rejected fix: the fault goes on) stay
# watched; ``resolved`` (the cause fixed and verified, or its signals cleared) and ``closed`` are final.
ACTIVE: frozenset[str] = frozenset({"open", "proposed", "mitigated", "no_action", "won't fix"})
TIMELINE_KEEP = 200  # notable events kept per incident; routine ticks collapse into one line (see add_event)
LIST_HINT = "list incident ids with `opsagent incidents list`"
_FIXED = frozenset({"id", "model", "opened_at", "updated_at"})  # identity and history; update() refuses them

metadata = sa.MetaData()
incidents = sa.Table(
    "incidents", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("opened_at", sa.Float, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("proposal_id", sa.Text),
    sa.Column("body", sa.Text, nullable=False),  # the whole record as JSON
    insertion_order_column("incidents"),  # PostgreSQL's tie-break of equal times (SQLite's rowid)
    sa.Index("incidents_model", "model", "opened_at"),
    sa.Index("incidents_proposal", "proposal_id"),
)
_c = incidents.c
_NEWEST = (_c.opened_at.desc(), rowid(incidents).desc())


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
    # Followed across scheduled ticks (agent.incident_ticks); old rows read back with these defaults.
    cause: str = Field("", description="category, plus the versions it blames ('bad_release@3'); '': category")
    severity: Literal["ok", "info", "warning", "critical"] = Field(
        "warning", description="the worst finding severity seen while it lasted")
    last_seen: float | None = Field(None, description="the latest tick that still found it")
    ticks: int = Field(1, ge=0, description="ticks that found it")
    clear_ticks: int = Field(0, ge=0, description="consecutive quiet ticks since it was last found")
    pending_cause: str | None = Field(None, description="a different cause later ticks found, not yet adopted")
    pending_ticks: int = Field(0, ge=0, description="consecutive ticks that found pending_cause")
    figures: str = Field("", description="the latest tick's headline figures, e.g. 'F1 0.61 on 300 labelled'")
    resolved_at: float | None = None
    timeline: list[dict[str, Any]] = Field(default_factory=list, description="{at, event, routine}, oldest first")
    trace_id: str | None = Field(None, description="MLflow trace of the tick that last wrote its post-mortem "
                                 "(agent.tracing; experiment opsagent-traces)")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


class IncidentStore(Handle):
    """Incidents in their own table of the approvals database (own store, thread-safe)."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time):
        self.path = path
        self.clock = clock
        self.store = Store(path, metadata)

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
        with self.store.write() as conn:
            conn.execute(incidents.insert().values(id=record.id, model=record.model, opened_at=record.opened_at,
                                                   status=record.status, proposal_id=record.proposal_id,
                                                   body=record.model_dump_json()))
        return record

    def get(self, incident_id: str) -> IncidentRecord:
        """The incident with this id, or with this unique id prefix."""
        key = incident_id.strip()
        if not key:
            raise IncidentError(f"give an incident id; {LIST_HINT}")
        query = (sa.select(_c.id, _c.body).where(sa.or_(_c.id == key, _c.id.startswith(key, autoescape=True)))
                 .order_by(_c.id).limit(6))
        rows = self._read(query)
        exact = [r for r in rows if r[0] == key]
        if exact:
            rows = exact
        if not rows:
            raise IncidentError(f"no incident {key!r}; {LIST_HINT}")
        if len(rows) > 1:
            shown = ", ".join(r[0] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise IncidentError(f"{key!r} matches several incidents ({shown}); give more of the id")
        return IncidentRecord.model_validate_json(rows[0][1])

    def list(self, model: str | None = None, limit: int = 20) -> builtins.list[IncidentRecord]:
        """The latest ``limit`` incidents, newest first, optionally one model's."""
        query = sa.select(_c.body).order_by(*_NEWEST).limit(max(int(limit), 0))
        if model is not None:
            query = query.where(_c.model == model)
        return [IncidentRecord.model_validate_json(r[0]) for r in self._read(query)]

    def update(self, incident_id: str, **fields: Any) -> IncidentRecord:
        """Change fields of an incident (validated); ``updated_at`` moves to now."""
        fixed = sorted(set(fields) & _FIXED)
        if fixed:
            raise IncidentError(f"cannot change {', '.join(fixed)} of an incident")
        unknown = sorted(set(fields) - set(IncidentRecord.model_fields))
        if unknown:
            raise IncidentError(f"incidents have no field {', '.join(unknown)}")
        iid = self.get(incident_id).id
        with self.store.write() as conn:
            # Re-read inside the write transaction so two updaters of different fields both land.
            current = IncidentRecord.model_validate_json(  # locked: PostgreSQL has no file-wide write lock
                conn.execute(sa.select(_c.body).where(_c.id == iid).with_for_update()).scalar_one())
            try:
                record = IncidentRecord.model_validate({**current.model_dump(), **fields, "updated_at": self.clock()})
            except ValidationError as exc:
                raise IncidentError(f"invalid incident update: {_errors(exc)}") from exc
            conn.execute(incidents.update().where(_c.id == iid).values(
                status=record.status, proposal_id=record.proposal_id, body=record.model_dump_json()))
        return record

    def active(self, model: str) -> IncidentRecord | None:
        """The model's newest incident still being watched (see ``ACTIVE``), or None."""
        rows = self._read(sa.select(_c.body).where(_c.model == model, _c.status.in_(sorted(ACTIVE)))
                          .order_by(*_NEWEST).limit(1))
        return IncidentRecord.model_validate_json(rows[0][0]) if rows else None

    def for_proposal(self, proposal_id: str) -> IncidentRecord | None:
        """The incident that filed this proposal, if any (the latest, should there be several)."""
        rows = self._read(sa.select(_c.body).where(_c.proposal_id == proposal_id).order_by(*_NEWEST).limit(1))
        return IncidentRecord.model_validate_json(rows[0][0]) if rows else None

    def counts(self) -> dict[tuple[str, str, str], int]:
        """How many incidents there are of each (model, category, status): `opsagent serve`'s /metrics.

        Counted in SQL (the category read from the JSON body), so a scrape never loads the records."""
        with self.store.read() as conn:
            body = _c.body if conn.dialect.name == "sqlite" else sa.cast(_c.body, sa.JSON)
            category = (sa.func.json_extract(body, "$.category") if conn.dialect.name == "sqlite"
                        else sa.func.json_extract_path_text(body, "category"))
            rows = conn.execute(sa.select(_c.model, category, _c.status, sa.func.count())
                                .group_by(_c.model, category, _c.status)).all()
        return {(model, cat or "none", status): int(n) for model, cat, status, n in rows}

    def _read(self, query: sa.Select[Any]) -> Sequence[Any]:
        with self.store.read() as conn:
            return conn.execute(query).all()


def add_event(timeline: builtins.list[dict[str, Any]], at: float, text: str, *,
              routine: bool = False) -> builtins.list[dict[str, Any]]:
    """The timeline with one more event. A routine event ("still ongoing ...") replaces a routine one just
    before it, so a day of one-minute ticks is one line, not 1,440; notable events are all kept (the oldest
    dropped past ``TIMELINE_KEEP``)."""
    out = [dict(e) for e in timeline]
    if routine and out and out[-1].get("routine"):
        out.pop()
    out.append({"at": at, "event": text, "routine": routine})
    return out[-TIMELINE_KEEP:]


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
