"""The SQLite checkpointer in OPSAGENT_HOME: graph threads (and pending approvals) survive the process."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.sqlite import SqliteSaver

from graphs.serde import state_serializer
from ml_core.paths import HomeLayout


@contextmanager
def open_checkpointer(layout: HomeLayout) -> Iterator[SqliteSaver]:
    """A checkpointer on ``layout.checkpoints_db``; several processes may share the file (WAL, busy timeout)."""
    layout.home.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(layout.checkpoints_db, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn, serde=state_serializer())
    saver.setup()
    try:
        yield saver
    finally:
        conn.close()
