"""A plain v2 inference request read and checked in one pass in C (msgspec), for a request every record of which is
valid: ``contract_decoded`` for the Open Inference Protocol.

The fast reader in Python (``v2_fast``) and the contract's column check after it cost ~22 µs at batch 1 and ~67 µs
at batch 16 for the churn model's twenty tensors. Here the request is read into structs typed from the schema: a
tagged union on the tensor's ``name`` gives each input its column's datatype and value type (categories, ranges,
integers, nulls where the column takes them), so the values are judged as they are read; what is left in Python
is each tensor's shape against its length and the row count (~11 and ~26 µs with the rows built).

As there, it says yes only to requests the general way reads into the same batch, every record valid (the same
rows, ids, outputs and request id), and None to any other, which then goes the general way, with its errors:
an unknown input or field anywhere (msgspec skips what it does not type, unread), tensor parameters (the binary
extension's), a nested ``data`` list, a whole float in an integer column. ``tests/ml_core/test_serving_v2_decoded.py``
holds the two ways to the same answer.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from ml_core.data.schema import TableSchema
from ml_core.serving.contract import ValidatedBatch
from ml_core.serving.contract_compiled import compile_row_builder
from ml_core.serving.contract_decoded import INT64, decodable, field_type, int_type
from ml_core.serving.v2_protocol import NUMERIC, OUTPUTS

ALL_OUTPUTS = [name for name, _ in OUTPUTS]
Scalar = str | int | float | bool  # a $parameters value, as ``v2_parse`` takes it
Decoded = tuple[str | None, list[str], ValidatedBatch]
DIMENSION: Any = int_type(*INT64)  # a shape's (a bool is not one)
SHAPE = operator.attrgetter("shape")


class RequestDecoder:
    """Reads a JSON v2 inference request for one schema into its id, outputs and batch, when it is plain and every
    record in it is valid."""

    def __init__(self, schema: TableSchema, max_records: int):
        self._decode: Callable[[bytes], Any] | None = None
        names = schema.feature_names
        if not decodable(schema) or schema.id_column in names:
            return  # a column no value passes, or an id that is also a feature: the general way, always
        self._tensors: list[type] = []  # one struct per input, its column's name its ``column``
        for c in schema.columns:
            value = field_type(c)
            datatype = Literal["BYTES"] if c.kind == "categorical" else Literal[tuple(NUMERIC)]
            self._tensor(c.name, datatype, value | None if c.nullable else value)
        if schema.id_column:
            self._tensor(schema.id_column, str, str | DIMENSION | None)  # any datatype, as the general reader
        tensors = functools.reduce(operator.or_, self._tensors)  # tagged by ``name``: an unknown one is an error
        output = msgspec.defstruct("DecodedOutput", [("name", Literal[tuple(ALL_OUTPUTS)]),
                                                      ("parameters", dict[str, Scalar] | None, None)],
                                   forbid_unknown_fields=True, gc=False)
        body = msgspec.defstruct("DecodedRequest", [
            ("inputs", Annotated[list[tensors], Meta(min_length=1)]), ("id", str | None, None),  # type: ignore[valid-type]
            ("parameters", dict[str, Scalar] | None, None), ("outputs", list[output] | None, None)],  # type: ignore[valid-type]
            forbid_unknown_fields=True, gc=False)
        self._decode = msgspec.json.Decoder(body).decode
        self._features = names
        self._required = frozenset(c.name for c in schema.columns if not c.nullable)
        self._id_column = schema.id_column
        self._build_rows = compile_row_builder(names)
        self._max_records = max_records

    def _tensor(self, name: str, datatype: Any, value: Any) -> None:
        struct = msgspec.defstruct(
            "DecodedTensor", [("shape", tuple[DIMENSION, ...]), ("datatype", datatype),  # type: ignore[valid-type]
                              ("data", list[value]), ("parameters", None, None)],
            tag_field="name", tag=name, namespace={"column": name}, forbid_unknown_fields=True, gc=False)
        self._tensors.append(struct)

    def read(self, raw: bytes) -> Decoded | None:
        """The request id, outputs asked for (all when none is named) and validated batch of ``raw``, or None."""
        if self._decode is None:
            return None
        try:
            req = self._decode(raw)
        except Exception:  # malformed, invalid, or only not plain (UnicodeDecodeError, RecursionError...)
            return None
        inputs = req.inputs
        columns = {t.column: t.data for t in inputs}  # a repeated name: the last one counts, as in the general way
        rows = set(map(len, columns.values()))
        n = rows.pop()
        if rows or not 0 < n <= self._max_records or not self._required <= columns.keys():
            return None
        if not set(map(SHAPE, inputs)) <= {(n,), (n, 1)}:  # every tensor one column of n values
            return None
        absent = [None] * n
        records = self._build_rows([columns.get(name, absent) for name in self._features])
        ids = absent if self._id_column is None else columns.get(self._id_column, absent)
        if int in set(map(type, ids)):
            ids = [v if v is None or type(v) is str else str(v) for v in ids]
        outputs = [o.name for o in req.outputs] if req.outputs else ALL_OUTPUTS
        return req.id, list(outputs), ValidatedBatch(records, list(ids), list(range(n)), [], n)
