"""The project's databases as ``Store`` objects: one database and its tables, with short write transactions.

Approvals, audit and incidents (``approvals.db``), the prediction logs, the Slack and web thread maps and
the schedule run log all go through ``Store``. Opening one creates the tables it lacks (``migrate``). How a
database is opened — URLs, SQLite pragmas, PostgreSQL schemas — is ``ml_core.store_engine``; the statements
the stores share across dialects (upsert, insert-if-absent, insertion order) are ``ml_core.store_statements``.
Both are re-exported here: code that works through a ``Store`` imports it all from this module; code that only
opens a database (the checkpointer, APScheduler's job store, the scoring service's log) imports the engine module.

Writes are short transactions that take the write lock up front (``BEGIN IMMEDIATE`` on SQLite), reads take
none. PostgreSQL has no database-wide write lock: a read-then-write transaction locks the rows it read
(``SELECT ... FOR UPDATE``, ignored by SQLite, where ``BEGIN IMMEDIATE`` already serialises writers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ml_core.store_engine import (
    BUSY_TIMEOUT_S,
    DDL_LOCK,
    SCHEMA_PARAM,
    apply_sqlite_pragmas,
    create_schema,
    database_url,
    describe,
    driver_url,
    immediate_writes,
    in_schema,
    is_url,
    make_engine,
    sqlite_connect,
    store_exists,
)
from ml_core.store_statements import (
    INSERTION_COLUMN,
    insert_if_absent,
    insert_many,
    insertion_order_column,
    rowid,
    upsert,
)

__all__ = [  # this module's own names, then the re-exported ones (their homes say more about them)
    "Closing", "Handle", "Store", "append_only", "migrate",
    "BUSY_TIMEOUT_S", "DDL_LOCK", "SCHEMA_PARAM", "apply_sqlite_pragmas", "create_schema", "database_url",
    "describe", "driver_url", "immediate_writes", "in_schema", "is_url", "make_engine", "sqlite_connect",
    "store_exists",
    "INSERTION_COLUMN", "insert_if_absent", "insert_many", "insertion_order_column", "rowid", "upsert",
]


class Closing:
    """``with`` support for anything with a ``close()``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Store(Closing):
    """One database and its tables: short write transactions, reads without the write lock, thread-safe.

    Each thread gets its own pooled connection, so web, Slack and scheduler threads can share one store.
    Opening creates the missing tables of each ``metadata`` and adds the columns and indexes an existing
    file lacks (``migrate``).
    """

    def __init__(self, target: str | Path, *metadata: sa.MetaData):
        self.engine = make_engine(target)
        self._writer = immediate_writes(self.engine)
        for tables in metadata:  # several modules may keep their tables in one file (approvals.db)
            migrate(self, tables)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on any error."""
        with self._writer.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading; its transaction is never committed (nothing to commit)."""
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        """Close the pooled connections (a later call would open new ones)."""
        self.engine.dispose()


class Handle(Closing):
    """Base of the objects that own a ``Store``: ``close()`` and ``with`` support."""

    store: Store

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()


# ---- schema ----------------------------------------------------------------------------------------
def migrate(store: Store, metadata: sa.MetaData) -> None:
    """Create missing tables (with their indexes and triggers) and add missing columns and indexes.

    Only adding is automatic: a new column needs a server default (or to be nullable) so existing rows
    get a value. The check runs first without the write lock; most opens find nothing to do.
    """
    with store.read() as conn:
        if not _schema_gaps(conn, metadata):
            return
    with store.write() as conn:  # one process at a time; re-check under the lock
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({DDL_LOCK})")
        metadata.create_all(conn)
        for table, columns, indexes in _schema_gaps(conn, metadata):
            for column in columns:
                _add_column(conn, table, column)
            for index in indexes:
                index.create(conn, checkfirst=True)


def _schema_gaps(conn: Connection, metadata: sa.MetaData
                 ) -> list[tuple[sa.Table, list[sa.Column[Any]], list[sa.Index]]]:
    """Per table: whether it is missing (no columns listed), else its missing columns and indexes."""
    inspector = sa.inspect(conn)
    existing = set(inspector.get_table_names())
    gaps: list[tuple[sa.Table, list[sa.Column[Any]], list[sa.Index]]] = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            gaps.append((table, [], []))
            continue
        have = {c["name"] for c in inspector.get_columns(table.name)}
        indexed = {i["name"] for i in inspector.get_indexes(table.name)}
        columns = [c for c in table.columns if c.name not in have]
        indexes = [i for i in table.indexes if i.name not in indexed]
        if columns or indexes:
            gaps.append((table, columns, indexes))
    return gaps


def _add_column(conn: Connection, table: sa.Table, column: sa.Column[Any]) -> None:
    if column.primary_key or (not column.nullable and column.server_default is None):
        raise ValueError(f"cannot add column {table.name}.{column.name} to an existing table: a new column "
                         f"must be nullable or have a server_default, and cannot be part of the primary key")
    spec = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {conn.dialect.identifier_preparer.format_table(table)} ADD COLUMN {spec}")


def append_only(table: sa.Table) -> sa.Table:
    """Make the database refuse UPDATE and DELETE on ``table`` (triggers, created with the table)."""
    for verb, what in (("UPDATE", "changed"), ("DELETE", "deleted")):
        sa.event.listen(table, "after_create", sa.DDL(
            f"CREATE TRIGGER IF NOT EXISTS {table.name}_no_{verb.lower()} BEFORE {verb} ON {table.name} "
            f"BEGIN SELECT RAISE(ABORT, 'the {table.name} log is append-only: entries cannot be {what}'); END"
        ).execute_if(dialect="sqlite"))
        # PostgreSQL: a trigger runs a function; one per table and verb keeps the message the same as SQLite's.
        function = f"{table.name}_refuse_{verb.lower()}"
        sa.event.listen(table, "after_create", sa.DDL(
            f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION 'the {table.name} log is append-only: entries cannot be {what}'; END $$; "
            f"CREATE TRIGGER {table.name}_no_{verb.lower()} BEFORE {verb} ON {table.name} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()").execute_if(dialect="postgresql"))
    return table
