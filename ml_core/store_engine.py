"""Opening the project's databases: URLs, SQLite's connection setup, and SQLAlchemy engines set up the same way.

``Store`` (``ml_core.store``) builds its engine here; LangGraph's checkpointer takes a raw connection from
``sqlite_connect`` and APScheduler's job store an engine from ``make_engine``, so the setup lives here only.

A database is named by a URL or a SQLite path. On SQLite every connection gets WAL (readers never block the
writer), a 30 s busy timeout (the CLI, the scheduler and the scoring service open the same files at once) and
``synchronous=NORMAL``; a transaction that will write takes the write lock up front (``BEGIN IMMEDIATE``, see
``immediate_writes``), reads take none. Everything SQLite-specific is guarded by the dialect.

On PostgreSQL (a team's ``OPSAGENT_DATABASE_URL``, driver psycopg 3) each SQLite file becomes a schema of one
database (``in_schema``), so tables of different files (two ``threads`` tables, one prediction log per model)
never clash; creating schemas and tables is serialised by an advisory lock (``DDL_LOCK``).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

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


def immediate_writes(engine: Engine) -> Engine:
    """``engine`` with every transaction taking the write lock up front (SQLite's ``BEGIN IMMEDIATE``; a no-op
    elsewhere): for transactions that will write, so they wait for the lock at BEGIN rather than fail later when
    a read lock cannot be upgraded."""
    return engine.execution_options(**{_IMMEDIATE: True})
