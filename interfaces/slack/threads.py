"""Where each incident and proposal lives in Slack: channel + message ts, in ``OPSAGENT_HOME/slack.db``.

The notifier posts an incident (with its proposal's buttons) as one top-level message and keeps everything
that follows — the post-mortem, "remediation started", the outcome — in that message's thread. It needs to
find the thread again from a later event, possibly after a restart, so the map is on disk.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal, NamedTuple

import sqlalchemy as sa

from ml_core.paths import HomeLayout
from ml_core.store import Handle, Store, upsert

Kind = Literal["incident", "proposal"]

metadata = sa.MetaData()
threads = sa.Table(
    "threads", metadata,
    sa.Column("kind", sa.Text, primary_key=True),     # incident | proposal
    sa.Column("key", sa.Text, primary_key=True),      # the incident or proposal id
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("ts", sa.Text, nullable=False),         # the top-level message; replies go in its thread
    sa.Column("updated_at", sa.Float, nullable=False),
)
_c = threads.c


class SlackThread(NamedTuple):
    channel: str
    ts: str


class ThreadMap(Handle):
    """A tiny thread-safe map (incident|proposal, id) → (channel, ts) on one database (a SQLite path or a URL)."""

    def __init__(self, path: Path | str):
        self.path = path
        # Notifier calls come from the dispatcher's job threads and Bolt's listener threads: the store is shared.
        self.store = Store(path, metadata)

    def remember(self, kind: Kind, key: str, channel: str, ts: str) -> None:
        """Point ``kind`` ``key`` at the message ``ts`` in ``channel`` (replaces an earlier one)."""
        with self.store.write() as conn:
            upsert(conn, threads, [{"kind": kind, "key": key, "channel": channel, "ts": ts,
                                    "updated_at": time.time()}], keys=["kind", "key"])

    def get(self, kind: Kind, key: str | None) -> SlackThread | None:
        """The message for ``kind`` ``key``, or None if it was never posted."""
        if not key:
            return None
        with self.store.read() as conn:
            row = conn.execute(sa.select(_c.channel, _c.ts).where(_c.kind == kind, _c.key == key)).first()
        return SlackThread(row[0], row[1]) if row else None

    def incident_at(self, thread: SlackThread) -> str | None:
        """The incident whose top-level message is ``thread``, if any."""
        with self.store.read() as conn:
            key = conn.execute(sa.select(_c.key).where(_c.kind == "incident", _c.channel == thread.channel,
                                                       _c.ts == thread.ts)).scalar()
        return str(key) if key is not None else None

    def find(self, incident_id: str | None, proposal_id: str | None) -> SlackThread | None:
        """The thread of an incident, else of its proposal (a proposal filed from chat has no incident)."""
        return self.get("incident", incident_id) or self.get("proposal", proposal_id)


def thread_map(layout: HomeLayout) -> ThreadMap:
    """The map of the home ``layout`` (``OPSAGENT_HOME/slack.db``, or its schema in the team database)."""
    return ThreadMap(layout.store(layout.home / "slack.db"))
