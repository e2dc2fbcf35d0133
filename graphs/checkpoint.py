"""The checkpointer: graph threads (and pending approvals) survive the process.

SQLite in OPSAGENT_HOME by default; with a team database (``OPSAGENT_DATABASE_URL``) LangGraph's own
PostgresSaver in the database's ``checkpoints`` schema, so every `opsagent serve` on it sees the same threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver

from graphs.serde import state_serializer
from ml_core.paths import HomeLayout
from ml_core.store_engine import DDL_LOCK, create_schema, driver_url, is_url, sqlite_connect


@contextmanager
def open_checkpointer(layout: HomeLayout) -> Iterator[BaseCheckpointSaver]:
    """A checkpointer on ``layout.checkpoints_store``; several processes may share it (SQLite: WAL, busy timeout)."""
    target = layout.checkpoints_store
    if is_url(target):
        with _postgres_saver(str(target)) as saver:
            yield saver
        return
    conn = sqlite_connect(layout.checkpoints_db)  # SqliteSaver needs a raw connection; the same setup as the stores
    saver = SqliteSaver(conn, serde=state_serializer())
    saver.setup()
    try:
        yield saver
    finally:
        conn.close()


@contextmanager
def _postgres_saver(target: str) -> Iterator[BaseCheckpointSaver]:
    """PostgresSaver on one psycopg connection (its own lock makes it thread-safe), set up as its docs say:
    autocommit, dict rows, no server-side prepared statements (a pooler in between may not keep them)."""
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg import Connection
    from psycopg.rows import dict_row

    conninfo, schema = driver_url(target)
    with Connection.connect(conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row,
                            options=f"-c search_path={schema}" if schema else "") as conn:
        if schema:
            with conn.transaction():
                create_schema(conn, schema)
        saver = PostgresSaver(conn, serde=state_serializer())  # type: ignore[arg-type]
        # Its migrations (CREATE TABLE IF NOT EXISTS: unsafe against a concurrent creator) under our DDL lock,
        # held for the session: the connection is in autocommit, so a transaction-scoped lock would end at once.
        conn.execute(f"SELECT pg_advisory_lock({DDL_LOCK})")
        try:
            saver.setup()
        finally:
            conn.execute(f"SELECT pg_advisory_unlock({DDL_LOCK})")
        yield saver
