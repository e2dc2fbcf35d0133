"""The contract's check of valid records as Python source generated from the schema, compiled once per validator.

``RecordValidator`` used to walk a list of column tuples for every record (a loop iteration, a tuple unpack and
a branch on the column's kind per field, then ``row[name] = v``): ~2.7 µs for a churn record of 19 fields, the
largest per-row cost of a batch-16 request. Here the same checks are written out once, one straight line per
column with its bounds and categories bound as constants, and compiled with ``compile``/``exec`` (as attrs and
pydantic build their ``__init__``): no loop over columns, no kind branch, and the row built by one dict literal.

The generated code only says "valid, and here is the cleaned row and id" or "not sure" (None): it accepts exactly
the records the old loop accepted, with the same row (the same value objects, the schema's order) and id; any
other record is judged by ``RecordValidator``'s field-by-field path as before, which tells what is wrong. So every
answer and error stays the contract's (``tests/ml_core/test_serving_contract_compiled.py`` holds the two to it on
generated records of every kind of bad field).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from ml_core.data.schema import TableSchema

RowAndId = tuple[dict[str, Any], str | None]
RowCheck = Callable[[Any], RowAndId | None]
BatchCheck = Callable[[list[Any]], tuple[list[dict[str, Any]], list[str | None]] | None]


def _column_lines(schema: TableSchema, consts: dict[str, Any]) -> list[str]:
    """Statements that bind ``v<i>`` to column i's value or ``return None`` when it is not plainly valid."""
    big = sys.float_info.max  # a finite bound where the spec sets none: NaN and infinities fail the comparison
    lines = []
    required = [(i, c.name) for i, c in enumerate(schema.columns) if not c.nullable]
    if required:  # the columns that must be there, read in one C call; a record lacking one is judged
        consts["required"] = itemgetter(*(name for _, name in required))
        names = ", ".join(f"v{i}" for i, _ in required) + ("," if len(required) == 1 else "")
        lines += ["try:", f"    {names} = required(rec)" if len(required) > 1 else f"    {names} = (required(rec),)",
                  "except KeyError:", "    return None"]
    for i, c in enumerate(schema.columns):
        v = f"v{i}"
        if c.nullable:
            lines.append(f"{v} = get({c.name!r})")  # absent reads as None, as ``rec.get`` did
        if c.kind == "categorical":
            consts[f"C{i}"] = frozenset(c.categories)
            ok = f"type({v}) is str and {v} in C{i}"
        else:
            consts[f"L{i}"] = -big if c.low is None else c.low
            consts[f"H{i}"] = big if c.high is None else c.high
            # exact types: a bool is not an int here, and int or float subclasses are left to the judging path
            whole = f" and (t is int or {v}.is_integer())" if c.kind == "integer" else ""
            ok = f"((t := type({v})) is int or t is float) and L{i} <= {v} <= H{i}{whole}"
        if c.nullable:
            ok = f"{v} is None or ({ok})"
        lines.append(f"if not ({ok}): return None")
    return lines


def _id_lines(schema: TableSchema, out: str) -> list[str]:
    """Statements that bind ``out`` to the record's id as text (None without one), or ``return None`` when it is
    not a plain string or integer."""
    if not schema.id_column:
        return [f"{out} = None"]
    return [f"{out} = get({schema.id_column!r})",
            f"if {out} is not None and type({out}) is not str:",
            f"    if type({out}) is not int: return None",
            f"    {out} = str({out})"]


def _row_literal(schema: TableSchema) -> str:
    return "{" + ", ".join(f"{c.name!r}: v{i}" for i, c in enumerate(schema.columns)) + "}"


def compile_function(source: str, consts: dict[str, Any], name: str) -> Any:
    namespace: dict[str, Any] = dict(consts)
    exec(compile(source, f"<contract of {name}>", "exec"), namespace)  # noqa: S102 -- source built from the schema
    return namespace[name]


def compile_row_check(schema: TableSchema) -> RowCheck:
    """``f(record) -> (row, record_id) | None``: the cleaned row and id of a record every field of which is valid,
    else None (the record is then judged field by field)."""
    consts: dict[str, Any] = {}
    body = ["if type(rec) is not dict: return None", "get = rec.get", *_column_lines(schema, consts),
            *_id_lines(schema, "rid"), f"return {_row_literal(schema)}, rid"]
    source = "def row_check(rec):\n" + "".join(f"    {line}\n" for line in body)
    return compile_function(source, consts, "row_check")


def compile_batch_check(schema: TableSchema) -> BatchCheck:
    """``f(records) -> (rows, record_ids) | None``: ``compile_row_check`` over a whole batch in one loop, None as
    soon as one record is not plainly valid (the batch is then judged record by record)."""
    consts: dict[str, Any] = {}
    body = ["if type(rec) is not dict: return None", "get = rec.get", *_column_lines(schema, consts),
            *_id_lines(schema, "rid"), f"add_row({_row_literal(schema)})", "add_id(rid)"]
    source = ("def batch_check(records):\n    rows = []\n    ids = []\n    add_row = rows.append\n"
              "    add_id = ids.append\n    for rec in records:\n" + "".join(f"        {line}\n" for line in body)
              + "    return rows, ids\n")
    return compile_function(source, consts, "batch_check")


def compile_row_builder(names: list[str]) -> Callable[[list[Any]], list[dict[str, Any]]]:
    """``f(columns) -> rows``: the records of equally long ``columns`` (one per name, in order) as dicts of ``names``,
    ``[dict(zip(names, row)) for row in zip(*columns, strict=True)]`` built by one dict literal a row (half the
    cost)."""
    values = ", ".join(f"v{i}" for i in range(len(names)))
    literal = "{" + ", ".join(f"{name!r}: v{i}" for i, name in enumerate(names)) + "}"
    target = f"({values},)" if names else "()"
    source = f"def build_rows(columns):\n    return [{literal} for {target} in zip(*columns, strict=True)]\n"
    return compile_function(source, {}, "build_rows")
