"""The statements the stores share that Core does not spell the same on every dialect: upserts, insert-if-absent,
a fast many-row INSERT, and the insertion order of a table's rows (the tie-break of lists ordered by time).

Each takes a connection from ``Store.read``/``Store.write`` (``ml_core.store``) and works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement


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
