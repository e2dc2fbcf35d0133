"""The contract's check of a whole batch at once, column by column, for a batch every record of which is valid.

``RecordValidator`` judges a record field by field in Python (~3 µs a record of 19 fields). A batch that is valid
as a whole, the usual case, can be told so by a handful of C-speed passes per column: the set of the column's value
types, its ``min`` and ``max`` against the spec's range, its ``sum`` (NaN propagates through it) and, for a
categorical, whether its set of values is a subset of the spec's categories. This module says yes only when every
record would pass ``RecordValidator._valid_row`` with the same cleaned row (the same value objects, the schema's
order) and the same record id; on any doubt it returns None and the caller judges the records one by one as before,
so what is accepted and every error stays the contract's. The passes cost about a microsecond per column whatever
the rows, so it pays from a few records up (``MIN_ROWS``).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ml_core.data.schema import TableSchema
from ml_core.serving.contract_compiled import compile_row_builder

MIN_ROWS = 4  # below this, judging record by record is as cheap as the fixed cost of the column passes
NONE = type(None)
NUMBERS = frozenset({int, float})
IDS = frozenset({str, int})


class ColumnCheck:
    """The all-valid check of one schema's columns."""

    def __init__(self, schema: TableSchema):
        big = sys.float_info.max  # as ``RecordValidator``: a finite bound, so NaN and infinities fail
        self.names = schema.feature_names
        self._build_rows = compile_row_builder(self.names)  # one dict literal a row, in the schema's order
        self.id_column = schema.id_column
        self.columns = [(c.name, c.kind, -big if c.low is None else c.low, big if c.high is None else c.high,
                         frozenset(c.categories), c.nullable) for c in schema.columns]

    def rows(self, columns: Mapping[str, Sequence[Any]], n: int
             ) -> tuple[list[dict[str, Any]], list[str | None]] | None:
        """The cleaned rows and record ids of ``n`` records given as ``columns`` (name -> the records' values; an
        absent name is absent from every record), or None unless every record is valid."""
        absent = [None] * n
        values: list[Sequence[Any]] = []
        for name, kind, low, high, cats, nullable in self.columns:
            col = columns.get(name, absent)
            if not _valid_column(col, kind, low, high, cats, nullable):
                return None
            values.append(col)
        ids = _ids(columns.get(self.id_column, absent) if self.id_column else absent)
        if ids is None:
            return None
        return self._build_rows(values), ids


def _valid_column(col: Sequence[Any], kind: str, low: float, high: float, cats: frozenset[str],
                  nullable: bool) -> bool:
    types = set(map(type, col))
    if NONE in types:
        if not nullable:
            return False
        types.discard(NONE)
        col = [v for v in col if v is not None]
        if not col:
            return True
    if kind == "categorical":
        return types == {str} and set(col) <= cats
    if not types <= NUMBERS or (kind == "integer" and float in types
                                and not all(v.is_integer() for v in col if type(v) is float)):
        return False
    total = sum(col)  # NaN, or infinities of both signs, make it NaN; one infinity fails the range below
    return total == total and low <= min(col) and max(col) <= high


def _ids(col: Sequence[Any]) -> list[str | None] | None:
    """The record ids as ``RecordValidator`` reads them (a string or an integer, as text), or None when one is not
    an id (a bool, a float...)."""
    types = set(map(type, col))
    if types <= {NONE}:
        return list(col)
    if not types <= IDS | {NONE}:
        return None
    return [None if v is None else str(v) for v in col] if NONE in types else list(map(str, col))
