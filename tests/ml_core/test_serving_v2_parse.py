"""The v2 request reader's fast path reads a body exactly as pydantic does, or leaves it to pydantic."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ml_core.serving.contract import RequestRejected
from ml_core.serving.v2_parse import _by_pydantic, _well_formed, parse_request
from ml_core.serving.v2_protocol import Request

scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-2, 2), st.sampled_from(["", "2", "x"]))
json_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["a", "name"]), inner, max_size=2), max_leaves=6)


def often(usual: st.SearchStrategy, other: st.SearchStrategy) -> st.SearchStrategy:
    """``usual`` eight times in ten (``one_of`` draws its branches evenly, and ignores a branch given twice)."""
    return st.integers(0, 9).flatmap(lambda k: usual if k < 8 else other)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Mostly a value of the field's type, else the field left out (``...``) or any JSON value."""
    return often(strategy, st.just(...) | json_value)


params = st.dictionaries(st.sampled_from(["binary_data_size", "x"]), often(scalar, json_value), max_size=2)
tensor = st.fixed_dictionaries({"name": maybe(st.sampled_from(["state", "a"])),
                                "shape": maybe(st.lists(often(st.integers(-1, 3), scalar), max_size=2)),
                                "datatype": maybe(st.sampled_from(["FP64", "BYTES"])), "parameters": maybe(params),
                                "data": maybe(st.lists(scalar, max_size=3))})
body = st.fixed_dictionaries({"id": maybe(st.sampled_from(["r1"])), "parameters": maybe(params),
                              "inputs": maybe(st.lists(tensor, min_size=1, max_size=2)),
                              "outputs": maybe(st.lists(st.fixed_dictionaries(
                                  {"name": maybe(st.sampled_from(["label"])), "parameters": maybe(params)}),
                                  max_size=2))})


def _drop_absent(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_absent(v) for k, v in value.items() if v is not ...}
    if isinstance(value, list):
        return [_drop_absent(v) for v in value]
    return value


def _one(**tensor: Any) -> dict:
    return {"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1.0], **tensor}]}


@settings(max_examples=400, deadline=None)
@given(often(body, json_value))
@example(_one(shape=[True])).via("a bool shape, which pydantic reads as 1")
@example(_one(shape=[1.0])).via("a float shape")
@example(_one(parameters={"binary_data_size": 1.0})).via("a float parameter stays a float")
@example(_one(parameters={"x": True})).via("a bool parameter stays a bool")
@example({**_one(), "outputs": [], "id": None}).via("no outputs named, a null id")
def test_what_the_fast_path_reads_pydantic_reads_the_same(generated: Any) -> None:
    """Random bodies, most of them well-formed and many not (a wrong type, a field left out, lax values)."""
    raw = orjson.dumps(_drop_absent(generated))
    fast = _well_formed(orjson.loads(raw))
    if fast is None:
        return
    assert orjson.dumps(fast) == orjson.dumps(_by_pydantic(raw))  # as JSON: 1, 1.0 and true are told apart


def test_a_well_formed_request_takes_the_fast_path() -> None:
    raw = (b'{"id": "r", "inputs": [{"name": "a", "shape": [2, 1], "datatype": "FP64", "data": [[1.5], [2]],'
           b' "parameters": {"binary_data_size": 0}}], "outputs": [{"name": "label"}], "extra": 1}')
    fast = _well_formed(orjson.loads(raw))
    assert fast is not None and orjson.dumps(fast) == orjson.dumps(_by_pydantic(raw))
    assert fast.outputs == ["label"] and fast.inputs[0].shape == [2, 1]


def test_a_lax_shape_is_read_by_pydantic() -> None:
    raw = b'{"inputs": [{"name": "a", "shape": ["2"], "datatype": "FP64", "data": [1, 2]}]}'
    assert _well_formed(orjson.loads(raw)) is None
    req, binary = parse_request(raw, None)
    assert isinstance(req, Request) and req.inputs[0].shape == [2] and binary == b""


def test_the_binary_header_length_splits_the_body() -> None:
    header = b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": 8}}]}'
    req, binary = parse_request(header + b"\x00" * 8, str(len(header)))
    assert req.inputs[0].data is None and binary == b"\x00" * 8
    with pytest.raises(RequestRejected, match="is not a length within"):
        parse_request(header, str(len(header) + 1))
