"""The v2 request decoder (``v2_decoded``) answers a plain request only as the general way would.

The oracle is the way it sits in front of: ``read_request`` and ``RecordValidator.validate``. Hypothesis draws
requests right in most fields and odd in some (``tests.v2_requests``); whenever the decoder answers, the general
way must read the same request id and outputs and accept every record, with the same rows (values, their types,
order) and ids. The requests it must leave to the general way are checked one by one, and so is that it does
answer for the benchmark's request.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.schema import Column, TableSchema
from ml_core.serving.contract import RecordValidator, RequestRejected
from ml_core.serving.v2_decoded import RequestDecoder
from ml_core.serving.v2_routes import read_request
from tests.v2_requests import SCHEMA, full_request, request

DECODER = RequestDecoder(SCHEMA, 1000)


def without_other(body: Any) -> Any:
    """The request without the input this model does not take (the decoder leaves such a request alone)."""
    if type(body) is dict and type(body.get("inputs")) is list:
        return {**body, "inputs": [t for t in body["inputs"] if not (type(t) is dict and t.get("name") == "other")]}
    return body


requests = st.one_of(request(), request().map(without_other))


def seen(rows: list[dict[str, Any]]) -> list[list[tuple[str, type, str]]]:
    return [[(k, type(v), repr(v)) for k, v in r.items()] for r in rows]


def general(raw: bytes, schema: TableSchema) -> tuple[Any, ...]:
    """The general way's id, outputs, rows and ids when it reads ``raw`` and every record is valid; else why not."""
    try:
        rid, names, cols = read_request(raw, None, schema)
        batch = RecordValidator(schema).validate(cols)
    except RequestRejected as rej:
        return ("rejected", rej.status, rej.message)
    if batch.errors:
        return ("partly valid", len(batch.errors))
    return rid, names, seen(batch.records), batch.ids


def decoded(decoder: RequestDecoder, raw: bytes) -> tuple[Any, ...] | None:
    out = decoder.read(raw)
    if out is None:
        return None
    rid, names, batch = out
    assert batch.indices == list(range(batch.total)) and batch.errors == [] and len(batch.records) == batch.total
    return rid, names, seen(batch.records), batch.ids


def with_id(body: dict[str, Any], data: list[Any], datatype: str = "BYTES") -> dict[str, Any]:
    return {**body, "inputs": [*body["inputs"], {"name": "cid", "shape": [len(data)], "datatype": datatype,
                                                 "data": data}]}


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(requests)
@example(full_request(2)).via("a plain request")
@example({**full_request(1), "outputs": []}).via("no outputs named: all of them")
@example({"inputs": full_request(1)["inputs"][:2]}).via("a nullable column left out")
@example(with_id(full_request(1), [7], "INT64")).via("an integer id")
def test_whenever_the_decoder_answers_the_general_way_reads_the_same_batch(body: Any) -> None:
    raw = orjson.dumps(body)
    fast = decoded(DECODER, raw)
    if fast is not None:
        assert general(raw, SCHEMA) == fast


def test_plain_requests_are_decoded_as_the_general_way_reads_them() -> None:
    cases = [full_request(1), full_request(5), {**full_request(2), "id": "r9", "outputs": [{"name": "label"}]},
             {"inputs": full_request(3)["inputs"][:2], "parameters": {"a": 1, "b": True}},
             with_id(full_request(2), ["x", 7], "BYTES"), with_id(full_request(2), [None, "y"])]
    for body in cases:
        raw = orjson.dumps(body)
        fast = decoded(DECODER, raw)
        assert fast is not None and fast == general(raw, SCHEMA)
    assert decoded(DECODER, orjson.dumps(cases[4]))[3] == ["x", "7"]  # type: ignore[index]


def test_the_benchmark_request_of_the_churn_model_is_decoded() -> None:
    from evals.bench_serving import v2_body
    from ml_core.data.churn import load_churn

    records = load_churn().drop(columns=["churn", "customer_id"]).head(16).to_dict("records")
    decoder = RequestDecoder(CHURN_SCHEMA, 1000)
    for n in (1, 16):
        raw = orjson.dumps(v2_body(records[:n]))
        fast = decoded(decoder, raw)
        assert fast is not None and len(fast[2]) == n and fast == general(raw, CHURN_SCHEMA)


def _tensors(change: dict[str, Any], name: str = "calls") -> dict[str, Any]:
    body = full_request(2)
    return {"inputs": [{**t, **change} if t["name"] == name else t for t in body["inputs"]]}


@pytest.mark.parametrize("body", [
    _tensors({"data": [1.0, 2]}),  # a whole float in an integer column: the contract takes it as it is
    _tensors({"data": [[1], [2]], "shape": [2, 1]}),  # nested rows: the general reader flattens them
    _tensors({"parameters": {"binary_data_size": 0}}), _tensors({"parameters": {}}),
    _tensors({"extra": 1}), _tensors({"shape": [3]}), _tensors({"shape": [2, 2]}), _tensors({"shape": [True, 1]}),
    _tensors({"datatype": "BYTES"}), _tensors({"datatype": "FP64"}, "plan"), _tensors({"data": [1, 11]}),
    _tensors({"data": [1, True]}), _tensors({"data": ["a", "c"]}, "plan"), _tensors({"data": [1, None]}),
    {**full_request(2), "id": 3}, {**full_request(2), "outputs": [{"name": "nope"}]}, {**full_request(2), "x": 1},
    {**full_request(2), "parameters": {"k": [1]}}, {"inputs": [*full_request(2)["inputs"], {
        "name": "other", "shape": [2], "datatype": "FP64", "data": [1, 2]}]},  # an input this model does not take
    {"inputs": full_request(2)["inputs"][1:]}, {"inputs": []}, {"inputs": [
        {**t, "shape": [0], "data": []} for t in full_request(2)["inputs"]]},
    {"inputs": [full_request(2)["inputs"][0], *full_request(3)["inputs"][1:]]},  # unequal row counts
    with_id(full_request(2), [True, "x"]), with_id(full_request(2), ["x"]),
])
def test_requests_the_decoder_leaves_to_the_general_way(body: dict[str, Any]) -> None:
    assert decoded(DECODER, orjson.dumps(body)) is None


def test_raw_bytes_it_leaves_to_the_general_way() -> None:
    good = orjson.dumps(full_request(1))
    assert decoded(DECODER, good) is not None
    for raw in (good[:-1] + b', "x": "\xff"}', good[:-1] + b', "x": 1e999}', good + b" x", b"", b"[]"):
        assert decoded(DECODER, raw) is None
    small = RequestDecoder(SCHEMA, 2)
    assert decoded(small, orjson.dumps(full_request(2))) is not None
    assert decoded(small, orjson.dumps(full_request(3))) is None  # past the batch limit: the contract's 413


def test_schemas_it_cannot_decode_for_turn_it_off() -> None:
    no_categories = TableSchema(columns=(Column("c", "categorical", nullable=True),), label="y", positive_label="1",
                                negative_label="0")
    body = {"inputs": [{"name": "c", "shape": [1], "datatype": "BYTES", "data": [None]}]}
    assert RequestDecoder(no_categories, 10).read(orjson.dumps(body)) is None
    id_is_feature = TableSchema(columns=(Column("c", "integer", 0, 9),), label="y", positive_label="1",
                                negative_label="0", id_column="c")
    body = {"inputs": [{"name": "c", "shape": [1], "datatype": "INT64", "data": [3]}]}
    assert RequestDecoder(id_is_feature, 10).read(orjson.dumps(body)) is None


def test_the_drawn_requests_reach_the_decoder_often() -> None:
    """The property above is only as strong as the share of drawn requests the decoder answers."""
    answered = []

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(requests)
    def draw(body: Any) -> None:
        answered.append(decoded(DECODER, orjson.dumps(body)) is not None)

    draw()
    assert 0.05 < sum(answered) / len(answered) < 0.9, sum(answered) / len(answered)
