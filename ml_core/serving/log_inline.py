"""The prediction log's commit on the event loop itself, when SQLite lets it be taken at once.

A request at batch 1 crosses threads four times (to the model and back, to the log writer and back); on a
machine whose cores are shared, each crossing waits for the kernel to schedule the other thread, and that wait,
not the work, was most of a request's time. The commit of a small batch of rows to a local SQLite file in WAL mode
costs well under a millisecond (``synchronous=NORMAL``: no fsync at commit), so the loop commits the rows of all
requests scored in one loop iteration itself, through a connection that never waits: its busy timeout is 0, so a
write lock held by another process (a seal, an ingest) answers SQLITE_BUSY at once and those rows go to the writer
thread, which waits for the lock as before. Automatic checkpoints are off on this connection (a checkpoint fsyncs
the database, which the loop must not wait for); the writer thread checkpoints every ``CHECKPOINT_EVERY``
inline commits instead. The guarantee is unchanged: an answered prediction is committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from ml_core.predlog import LOG_COLUMNS, PredictionLog
from ml_core.store_engine import apply_sqlite_pragmas

# SQLite's own default is a checkpoint per 1,000 WAL pages (4 MB); an inline commit of a loop iteration's rows
# writes a few pages, so ~250 commits keep the WAL near that size.
CHECKPOINT_EVERY = 250
# Rows per INSERT statement: one statement of many rows costs ~20 % less a row than ``executemany`` (a reset and a
# step per row), and 32 rows of 12 columns stay far under SQLite's limit on bound parameters.
ROWS_PER_INSERT = 32


class InlineAppender:
    """Appends prediction rows to a local SQLite log without ever waiting for its write lock."""

    def __init__(self, path: Path):
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        apply_sqlite_pragmas(self.conn)
        self.conn.execute("PRAGMA busy_timeout=0")  # after the pragmas: switching to WAL may have to wait
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self._insert = f"INSERT INTO predictions ({', '.join(LOG_COLUMNS)}) VALUES "
        self._row = f"({', '.join('?' * len(LOG_COLUMNS))})"
        self._sql: dict[int, str] = {}  # rows -> the statement for that many
        self.commits = 0

    def _statement(self, rows: int) -> str:
        sql = self._sql.get(rows)
        if sql is None:
            sql = self._sql[rows] = self._insert + ", ".join([self._row] * rows)
        return sql

    @classmethod
    def for_log(cls, predlog: PredictionLog) -> InlineAppender | None:
        """One for ``predlog`` when it is a local SQLite file; None for a database server (its commit is a round
        trip over the network, which the loop must not wait for)."""
        url = predlog.store.engine.url
        if url.get_backend_name() != "sqlite" or not url.database:
            return None
        return cls(Path(url.database))

    def try_append(self, rows: Sequence[tuple[Any, ...]]) -> bool:
        """Commit ``rows`` (the log's column order) and return True, or return False at once if another
        connection holds the write lock; raises on any other error, with nothing written."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if str(getattr(exc, "sqlite_errorname", "")).startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                return False
            raise
        try:
            for start in range(0, len(rows), ROWS_PER_INSERT):  # the rows in order, as executemany inserted them
                chunk = rows[start:start + ROWS_PER_INSERT]
                self.conn.execute(self._statement(len(chunk)), tuple(chain.from_iterable(chunk)))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.commits += 1
        return True

    def checkpoint_due(self) -> bool:
        return self.commits > 0 and self.commits % CHECKPOINT_EVERY == 0

    def close(self) -> None:
        self.conn.close()
