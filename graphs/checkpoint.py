"""The SQLite checkpointer in OPSAGENT_HOME: graph threads (and pending approvals) survive the process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.sqlite import SqliteSaver

from graphs.serde import state_serializer
from ml_core.paths import HomeLayout
from ml_core.store import sqlite_connect


@contextmanager
def open_checkpointer(layout: HomeLayout) -> Iterator[SqliteSaver]:
    """A checkpointer on ``layout.checkpoints_db``; several processes may share the file (WAL, busy timeout)."""
    conn = sqlite_connect(layout.checkpoints_db)  # SqliteSaver needs a raw connection; the same setup as the stores
    saver = SqliteSaver(conn, serde=state_serializer())
    saver.setup()
    try:
        yield saver
    finally:
        conn.close()
