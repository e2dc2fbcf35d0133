"""One way to open the project's databases: SQLAlchemy Core engines, set up the same way for every table.

Approvals, audit and incidents (``approvals.db``), the prediction logs, the Slack and web thread maps and
the schedule run log all go through ``Store``; LangGraph's checkpointer takes a raw connection from
``sqlite_connect`` and APScheduler's job store an engine from ``make_engine``, so the setup lives here only.

A store is built from a database URL or a SQLite path. On SQLite every connection gets WAL (readers never
block the writer), a 30 s busy timeout (the CLI, the scheduler and the scoring service open the same files
at once) and ``synchronous=NORMAL``; writes are short transactions that take the write lock up front
(``BEGIN IMMEDIATE``), reads take none. Everything SQLite-specific is guarded by the dialect.

On PostgreSQL (a team's ``OPSAGENT_DATABASE_URL``, driver psycopg 3) each SQLite file becomes a schema of one
database (``in_schema``), so tables of different files (two ``threads`` tables, one prediction log per model)
never clash. There is no database-wide write lock: a read-then-write transaction locks the rows it read
(``SELECT ... FOR UPDATE``, ignored by SQLite, where ``BEGIN IMMEDIATE`` already serialises writers), and
creating schemas and tables is serialised by an advisory lock.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement

BUSY_TIMEOUT_S = 30.0
_IMMEDIATE = "opsagent_begin_immediate"  # an execution option: this transaction will write
SCHEMA_PARAM = "opsagent_schema"  # a URL query parameter of ours: the PostgreSQL schema the store's tables live in
# pg_advisory_xact_lock key serialising DDL (CREATE SCHEMA/TABLE) of every opsagent process on one database:
# PostgreSQL's IF NOT EXISTS is not safe against a concurrent creator (a unique violation in its catalog).
DDL_LOCK = 0x6F707361  # "opsa"


def database_url(target: str | Path) -> sa.URL:
    """The URL of ``target``: a URL string as given, or a SQLite file path."""
    if is_url(target):
        return sa.make_url(str(target))
    return sa.URL.create("sqlite", database=str(Path(target)))


def is_url(target: str | Path) -> bool:
    """Whether ``target`` names a database by URL (else it is a SQLite file path)."""
    return isinstance(target, str) and "://" in target


def describe(target: str | Path) -> str:
    """``target`` for people (reports, logs): a path, or the URL with its password hidden."""
    return database_url(target).render_as_string(hide_password=True) if is_url(target) else str(target)


def in_schema(url: str, schema: str) -> str:
    """``url`` with its store's tables in ``schema`` (created on first use; PostgreSQL only)."""
    return database_url(url).update_query_dict({SCHEMA_PARAM: schema}).render_as_string(hide_password=False)


def driver_url(target: str) -> tuple[str, str | None]:
    """A libpq connection string for ``target`` (``postgresql+psycopg://...``, maybe ``in_schema``) and its schema:
    for libraries that take a psycopg connection (LangGraph's PostgresSaver)."""
    url = database_url(target)
    schema = url.query.get(SCHEMA_PARAM)
    plain = url.difference_update_query([SCHEMA_PARAM]).set(drivername="postgresql")
    return plain.render_as_string(hide_password=False), str(schema) if schema else None


def create_schema(conn: Any, schema: str) -> None:
    """``CREATE SCHEMA IF NOT EXISTS`` under the DDL advisory lock, on a DB-API (psycopg) or SQLAlchemy connection."""
    run = conn.exec_driver_sql if isinstance(conn, Connection) else conn.execute
    run(f"SELECT pg_advisory_xact_lock({DDL_LOCK})")
    run(f'CREATE SCHEMA IF NOT EXISTS "{_identifier(schema)}"')


def _identifier(name: str) -> str:
    if not name or '"' in name or "\x00" in name or len(name.encode()) > 63:
        raise ValueError(f"{name!r} cannot name a PostgreSQL schema: at most 63 bytes, no double quote")
    return name


def store_exists(target: str | Path, table: str) -> bool:
    """Whether ``target`` already holds ``table`` (a SQLite file that exists; a schema with that table), without
    creating anything: the question "is there a prediction log for this model?"."""
    if not is_url(target):
        return Path(target).exists()
    engine = make_engine(target)
    try:
        with engine.connect() as conn:
            schema = database_url(target).query.get(SCHEMA_PARAM)
            return sa.inspect(conn).has_table(table, schema=str(schema) if schema else None)
    finally:
        engine.dispose()


def apply_sqlite_pragmas(dbapi_conn: Any) -> None:
    """The setup every SQLite connection gets, whoever opens it (engines here, the checkpointer)."""
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")  # first: the next pragma may wait
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each checkpoint; safe with WAL
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried while another connection holds the file. Switching a new file to
    WAL needs the exclusive lock, and when two processes open a new file at once SQLite may answer SQLITE_BUSY
    at once instead of calling the busy handler (waiting could deadlock), so the wait is done here."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = str(getattr(exc, "sqlite_errorname", "")).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """A raw ``sqlite3`` connection with the same setup, for libraries that need one (LangGraph's SqliteSaver).

    The driver's own transaction handling is left as it is: the library manages its transactions.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    apply_sqlite_pragmas(conn)
    return conn


def make_engine(target: str | Path, *, begin_immediate: bool = False) -> Engine:
    """An engine on ``target`` (a URL or a SQLite path); on SQLite, with the pragmas and explicit BEGINs.

    ``begin_immediate`` makes every transaction take the write lock up front: for a library whose
    transactions read and then write (APScheduler's job store), which a deferred SQLite transaction cannot
    always upgrade once another process has committed.
    """
    url = database_url(target)
    if url.get_backend_name() != "sqlite":
        return _server_engine(url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, execution_options={_IMMEDIATE: True} if begin_immediate else {})
    sa.event.listen(engine, "connect", _on_connect)
    sa.event.listen(engine, "begin", _on_begin)
    return engine


def _server_engine(url: sa.URL) -> Engine:
    """An engine on a database server; with ``SCHEMA_PARAM``, every connection's ``search_path`` is that schema
    only (created here when missing), so unqualified names — ours, APScheduler's, raw SQL — all land in it."""
    schema = url.query.get(SCHEMA_PARAM)
    url = url.difference_update_query([SCHEMA_PARAM])
    if not schema:
        return sa.create_engine(url, pool_pre_ping=True)
    name = _identifier(str(schema))
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"{url.get_backend_name()} is not supported: OPSAGENT_DATABASE_URL must be PostgreSQL "
                         "(postgresql+psycopg://user:password@host:5432/database) or unset (SQLite files)")
    engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"options": f"-c search_path={name}"})
    with engine.begin() as conn:
        create_schema(conn, name)
    return engine


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    # SQLAlchemy's pysqlite recipe: turn off the driver's own BEGIN, which it emits lazily before the first
    # write and never for reads; ``_on_begin`` emits the BEGIN we want instead.
    dbapi_conn.isolation_level = None
    apply_sqlite_pragmas(dbapi_conn)


def _on_begin(conn: Connection) -> None:
    # A deferred BEGIN takes no lock until the first write; IMMEDIATE takes the write lock now, waiting up to
    # the busy timeout, instead of failing later when a read lock cannot be upgraded. Sent on the driver
    # connection rather than through exec_driver_sql, which would build a whole execution context for it:
    # measurably less time per transaction on the prediction log's write path.
    conn.connection.driver_connection.execute(  # type: ignore[union-attr]
        "BEGIN IMMEDIATE" if conn.get_execution_options().get(_IMMEDIATE) else "BEGIN")


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
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})
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


# ---- statements ------------------------------------------------------------------------------------
def upsert(conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]], *, keys: Sequence[str]) -> None:
    """Insert ``rows``, replacing the other columns of a row whose ``keys`` already exist."""
    if not rows:
        return
    stmt = _dialect_insert(conn, table)
    stmt = stmt.on_conflict_do_update(index_elements=list(keys),
                                      set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys})
    conn.execute(stmt, list(rows))


def insert_if_absent(conn: Connection, table: sa.Table, row: Mapping[str, Any]) -> bool:
    """INSERT ``row`` unless a row with the same primary or unique key exists; whether it was inserted.

    The claim of something (a scheduler tick, a lease) by whoever inserts first: safe between processes on any
    dialect, where a SELECT-then-INSERT would let two of them see "absent" and one fail on the unique key."""
    # RETURNING rather than rowcount: psycopg reports the row count of an INSERT that SQLAlchemy runs with
    # RETURNING for its primary key as 1 even when ON CONFLICT skipped the row.
    key = list(table.primary_key.columns)
    stmt = _dialect_insert(conn, table).values(**row).on_conflict_do_nothing().returning(*key)
    return conn.execute(stmt).first() is not None


def _dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's own INSERT (with ``on_conflict_do_update``/``do_nothing``)."""
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert  # type: ignore[assignment]
    else:
        raise NotImplementedError(f"no INSERT ... ON CONFLICT for {name}")
    return insert(table)


def insert_many(conn: Connection, table: sa.Table, rows: Sequence[Sequence[Any]]) -> None:
    """INSERT ``rows`` in one executemany of Core's statement; each row is a tuple of every column's value, in
    the table's column order, of types the driver takes as they are (str, int, float, None).

    ``conn.execute(table.insert(), dicts)`` would build each row's parameters in Python and pass every value
    through its type's bind processor (``float()`` for a Float): half the prediction log's write time, on the
    path the scoring service takes for every request. The statement is still Core's, for any dialect.
    """
    if not rows:
        return
    sql, positional = _insert_sql(table, conn.dialect)
    keys = table.columns.keys()
    conn.exec_driver_sql(sql, [tuple(r) for r in rows] if positional else [dict(zip(keys, r, strict=True))
                                                                          for r in rows])


@functools.cache
def _insert_sql(table: sa.Table, dialect: sa.Dialect) -> tuple[str, bool]:
    """The INSERT of every column of ``table`` compiled for ``dialect``, and whether it takes positional rows."""
    compiled = table.insert().compile(dialect=dialect)
    if compiled.positional and list(compiled.positiontup or []) != table.columns.keys():
        raise RuntimeError(f"the INSERT into {table.name} does not take its columns in table order")  # never seen
    return str(compiled), bool(compiled.positional)


INSERTION_COLUMN = "insertion_seq"


def insertion_order_column(table_name: str) -> sa.Column[int]:
    """The column that numbers a table's rows in insertion order on PostgreSQL (a sequence); NULL on SQLite,
    whose ``rowid`` already does (see ``rowid``). Nullable, so ``migrate`` adds it to an existing table."""
    return sa.Column(INSERTION_COLUMN, sa.BigInteger, sa.Sequence(f"{table_name}_{INSERTION_COLUMN}"), nullable=True)


class _InsertionOrder(ColumnElement[int]):
    """``rowid`` on SQLite, the table's ``insertion_order_column`` elsewhere."""

    inherit_cache = True
    type = sa.BigInteger()

    def __init__(self, table: sa.Table):
        self.table = table


@compiles(_InsertionOrder)
def _insertion_order_sqlite(element: _InsertionOrder, compiler: Any, **_kw: Any) -> str:
    return f"{compiler.preparer.format_table(element.table)}.rowid"


@compiles(_InsertionOrder, "postgresql")
def _insertion_order_server(element: _InsertionOrder, compiler: Any, **_kw: Any) -> str:
    if INSERTION_COLUMN not in element.table.c:
        raise RuntimeError(f"{element.table.name} has no {INSERTION_COLUMN} column (insertion_order_column)")
    return f"{compiler.preparer.format_table(element.table)}.{INSERTION_COLUMN}"


def rowid(table: sa.Table) -> ColumnElement[int]:
    """The insertion order of ``table``'s rows (the tie-break of lists ordered by time): SQLite's ``rowid``, or
    on PostgreSQL the table's ``insertion_order_column``, which it must then have."""
    return _InsertionOrder(table)

