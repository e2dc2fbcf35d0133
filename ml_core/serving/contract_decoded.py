"""The contract's check of a whole ``/predict`` body while it is parsed, in C (msgspec), for a body every record of
which is valid.

Parsing the body with orjson and then judging it (``contract_compiled``'s generated loop) cost ~4.6 µs at batch 1
and ~51 µs at batch 16 for the churn model's records of 20 fields, most of it the loop's Python bytecode: a type
test, two comparisons and a store per field. msgspec reads JSON straight into typed structs and checks each field's
type, range and category as it reads it, in C: ~1.8 and ~21 µs for the same bodies with the cleaned rows built.

The decoder says yes only when ``RecordValidator`` would accept every record with the same rows (the same values,
of the same types, in the schema's order) and ids; anything else answers None, and the body is parsed and judged
as before, which tells what is wrong. That is why its types are stricter than the contract, never looser:

- an extra field, in a record or beside ``records``, sends the body the general way: msgspec skips what it does not
  type without reading it as orjson does (an unknown field's invalid UTF-8, or a number too large for a double, which
  orjson refuses as malformed JSON, would pass unread);
- integers are read as such only within 64 bits (orjson reads a larger one as a float), and an integer column's
  whole float (``3.0``, which the contract accepts as it is) is left to the general path;
- bounds are finite (the largest double where the spec sets none), so an infinity fails them, as in the contract.

``tests/ml_core/test_serving_contract_decoded.py`` holds the two paths to the same answer on generated bodies.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ml_core.data.schema import Column, TableSchema
from ml_core.serving.contract_compiled import compile_function

RowsAndIds = tuple[list[dict[str, Any]], list[str | None]]
BIG = sys.float_info.max
INT64 = (-(2 ** 63), 2 ** 63 - 1)


def int_type(low: float, high: float) -> Any:
    """An integer within ``low..high`` and within the 64 bits orjson reads as an integer."""
    return Annotated[int, Meta(ge=max(math.ceil(low), INT64[0]), le=min(math.floor(high), INT64[1]))]


def field_type(c: Column) -> Any:
    """The type a non-null value of ``c`` must have to pass the contract as it is."""
    if c.kind == "categorical":
        return Literal[tuple(c.categories)]
    low = -BIG if c.low is None else c.low
    high = BIG if c.high is None else c.high
    typ = int_type(low, high)
    if c.kind != "integer":  # a JSON integer stays an int, as orjson reads it; any other number is a float
        typ = typ | Annotated[float, Meta(ge=float(low), le=float(high))]
    return typ


def decodable(schema: TableSchema) -> bool:
    """False when some column takes no value at all (a categorical without categories): ``Literal`` cannot say
    so, and the general path tells every record why."""
    return not any(c.kind == "categorical" and not c.categories for c in schema.columns)


class BodyDecoder:
    """Reads a raw ``/predict`` body into the cleaned rows and ids of its records, when every one is valid."""

    def __init__(self, schema: TableSchema, max_records: int):
        self._decode: Callable[[bytes], Any] | None = None
        if not decodable(schema):
            return  # every body goes the general way
        fields: list[tuple[Any, ...]] = []
        rename: dict[str, str] = {}  # struct fields are f0, f1...: a column's name need not be an identifier
        for i, c in enumerate(schema.columns):
            typ = field_type(c)
            fields.append((f"f{i}", typ | None, None) if c.nullable else (f"f{i}", typ))
            rename[f"f{i}"] = c.name
        if schema.id_column:
            fields.append(("rid", str | int_type(*INT64) | None, None))
            rename["rid"] = schema.id_column
        record = msgspec.defstruct("DecodedRecord", fields, rename=rename, kw_only=True,
                                   forbid_unknown_fields=True, gc=False)
        records = Annotated[list[record], Meta(min_length=1, max_length=max_records)]  # type: ignore[valid-type]
        body = msgspec.defstruct("DecodedBody", [("records", records)], forbid_unknown_fields=True, gc=False)
        self._decode = msgspec.json.Decoder(body).decode
        self._rows = _compile_rows(schema)

    def rows(self, raw: bytes) -> RowsAndIds | None:
        """The cleaned rows and record ids of ``raw``, or None unless it is a body of only valid records that the
        general path would read the same way."""
        if self._decode is None:
            return None
        try:
            records = self._decode(raw).records
        except Exception:  # malformed, invalid, or only not plain (UnicodeDecodeError, RecursionError...)
            return None
        return self._rows(records)


def _compile_rows(schema: TableSchema) -> Callable[[list[Any]], RowsAndIds]:
    """``f(structs) -> (rows, ids)``: each struct as a dict of the schema's columns in order (one dict literal a
    row), and its id as text (an integer id as its digits, as ``RecordValidator`` reads it)."""
    literal = "{" + ", ".join(f"{c.name!r}: r.f{i}" for i, c in enumerate(schema.columns)) + "}"
    ids = ("[None if (x := r.rid) is None else x if type(x) is str else str(x) for r in recs]"
           if schema.id_column else "[None] * len(recs)")
    source = f"def rows_and_ids(recs):\n    return [{literal} for r in recs], {ids}\n"
    return compile_function(source, {}, "rows_and_ids")
