"""Where each incident and proposal lives in Slack: channel + message ts, in ``OPSAGENT_HOME/slack.db``.

The notifier posts an incident (with its proposal's buttons) as one top-level message and keeps everything
that follows — the post-mortem, "remediation started", the outcome — in that message's thread. It needs to
find the thread again from a later event, possibly after a restart, so the map is on disk.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Literal, NamedTuple

Kind = Literal["incident", "proposal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    kind TEXT NOT NULL,          -- incident | proposal
    key TEXT NOT NULL,           -- the incident or proposal id
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,            -- the top-level message; replies go in its thread
    updated_at REAL NOT NULL,
    PRIMARY KEY (kind, key)
);
"""


class SlackThread(NamedTuple):
    channel: str
    ts: str


class ThreadMap:
    """A tiny thread-safe map (incident|proposal, id) → (channel, ts) on one SQLite file."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Notifier calls come from the dispatcher's job threads and Bolt's listener threads: one guarded connection.
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30.0)
        with self._lock, self._conn:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)

    def remember(self, kind: Kind, key: str, channel: str, ts: str) -> None:
        """Point ``kind`` ``key`` at the message ``ts`` in ``channel`` (replaces an earlier one)."""
        with self._lock, self._conn:
            self._conn.execute("INSERT OR REPLACE INTO threads (kind, key, channel, ts, updated_at) "
                               "VALUES (?, ?, ?, ?, ?)", (kind, key, channel, ts, time.time()))

    def get(self, kind: Kind, key: str | None) -> SlackThread | None:
        """The message for ``kind`` ``key``, or None if it was never posted."""
        if not key:
            return None
        with self._lock:
            row = self._conn.execute("SELECT channel, ts FROM threads WHERE kind = ? AND key = ?",
                                     (kind, key)).fetchone()
        return SlackThread(row[0], row[1]) if row else None

    def incident_at(self, thread: SlackThread) -> str | None:
        """The incident whose top-level message is ``thread``, if any."""
        with self._lock:
            row = self._conn.execute("SELECT key FROM threads WHERE kind = 'incident' AND channel = ? AND ts = ?",
                                     (thread.channel, thread.ts)).fetchone()
        return str(row[0]) if row else None

    def find(self, incident_id: str | None, proposal_id: str | None) -> SlackThread | None:
        """The thread of an incident, else of its proposal (a proposal filed from chat has no incident)."""
        return self.get("incident", incident_id) or self.get("proposal", proposal_id)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def thread_map(home: Path) -> ThreadMap:
    """The map of the home at ``home`` (``OPSAGENT_HOME/slack.db``)."""
    return ThreadMap(Path(home) / "slack.db")
