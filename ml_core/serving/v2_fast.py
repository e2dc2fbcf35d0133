"""A v2 inference request read straight into the batch's columns in one pass, when it is the plain kind.

The general reader (``v2_parse.parse_request``, then ``v2_protocol.output_names`` and ``request_columns``) builds a
``Tensor`` per input and checks each one again when it takes its values: ~27 µs of a ~140 µs batch-1 request for
the twenty tensors of the churn model, where ``/predict``'s JSON costs ~1 µs. Most requests are plain: JSON data
(no binary extension), flat ``data`` lists, no tensor parameters, every input of the datatype and shape its
column takes, outputs this model has. Such a request is read here in one pass over the parsed JSON, into the same
``Columns``, output names and id. Anything else (malformed JSON, the binary extension, a nested list, an error
of any kind) answers None and goes the general way, so every error message and every lax reading stays the general
reader's: this path only says yes to requests the general one reads the same way (``test_serving_v2_fast``).
"""

from __future__ import annotations

from typing import Any

from ml_core.data.schema import TableSchema
from ml_core.serving.contract import Columns
from ml_core.serving.v2_parse import INT, output_list, top_level
from ml_core.serving.v2_protocol import NUMERIC, OUTPUTS, _kinds

ALL_OUTPUTS = [name for name, _ in OUTPUTS]
KNOWN_OUTPUTS = frozenset(ALL_OUTPUTS)


def plain_request(body: Any, schema: TableSchema) -> tuple[str | None, list[str], Columns] | None:
    """The request's id, the outputs asked for and its batch, when ``body`` (its parsed JSON, sent without the
    binary extension) is a plain request for ``schema`` that the general reader would accept; else None."""
    top = top_level(body)
    if top is None:
        return None
    rid, inputs, outputs = top
    kinds, required = _kinds(schema)
    columns: dict[str, list[Any]] = {}
    for t in inputs:
        if type(t) is not dict or t.get("parameters") is not None:  # parameters: binary_data_size, the general way
            return None
        name, shape, datatype, data = t.get("name"), t.get("shape"), t.get("datatype"), t.get("data")
        if type(name) is not str or type(shape) is not list or type(datatype) is not str or type(data) is not list:
            return None
        kind = kinds.get(name)
        if kind is None:  # a tensor this model does not take: ignored, as the general reader ignores it
            if not set(map(type, shape)) <= INT:
                return None
            continue
        if kind == "categorical":
            if datatype != "BYTES":
                return None
        elif kind != "id" and datatype not in NUMERIC:
            return None
        # [n] or [n, 1] of exact ints (a bool is no dimension), n the values sent, as a flat list (nested rows,
        # [[v], ...], the general reader flattens)
        n = len(data)
        if len(shape) == 1:
            if type(shape[0]) is not int or shape[0] != n:
                return None
        elif shape != [n, 1] or type(shape[0]) is not int or type(shape[1]) is not int:
            return None
        if list in map(type, data):
            return None
        # No NaN-to-null as the general reader does for float tensors: JSON has no NaN (orjson refuses it, and
        # infinities), so there is none to turn.
        columns[name] = data
    for name in required:
        if name not in columns:
            return None
    rows = set(map(len, columns.values()))
    if len(rows) != 1 or 0 in rows:
        return None
    names = ALL_OUTPUTS
    if outputs is not None:
        asked = output_list(outputs)
        if asked is None or not KNOWN_OUTPUTS.issuperset(asked):
            return None
        names = asked or ALL_OUTPUTS  # none named: all of them, as the general reader
    return rid, list(names), Columns(columns, rows.pop())
