"""The one-pass reader of a plain v2 request reads it exactly as the general reader does, or leaves it to it."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import example, given, settings

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.schema import TableSchema
from ml_core.serving.contract import RequestRejected
from ml_core.serving.v2_fast import plain_request
from ml_core.serving.v2_parse import parse_request
from ml_core.serving.v2_protocol import output_names, request_columns
from ml_core.serving.v2_routes import read_request
from tests.v2_requests import SCHEMA, full_request, request


def general(raw: bytes, schema: TableSchema) -> tuple[str | None, list[str], Any] | None:
    """What the general reader makes of ``raw``: (id, outputs, columns as JSON), or None when it refuses it."""
    try:
        req, binary = parse_request(raw, None)
        names = output_names(req)
        cols = request_columns(req, schema, binary)
    except RequestRejected:
        return None
    return req.id, names, orjson.dumps({"values": cols.values, "n": cols.n})


@settings(max_examples=600, deadline=None)
@given(request())
@example(full_request(2)).via("a plain request")
@example({**full_request(1), "outputs": []}).via("no outputs named: all of them")
@example({"inputs": full_request(1)["inputs"][:2]}).via("a nullable column left out")
@example({"inputs": [*full_request(1)["inputs"], {"name": "cid", "shape": [1], "datatype": "INT64", "data": [7]}]})
def test_what_the_one_pass_reader_reads_the_general_reader_reads_the_same(body: Any) -> None:
    raw = orjson.dumps(body)
    fast = plain_request(orjson.loads(raw), SCHEMA)
    if fast is None:
        return
    rid, names, cols = fast
    # as JSON: 1, 1.0 and true are told apart; the general reader must accept what this one does
    assert (rid, names, orjson.dumps({"values": cols.values, "n": cols.n})) == general(raw, SCHEMA)


def test_a_plain_request_takes_the_one_pass_way_and_others_the_general_one() -> None:
    body = {"id": "r", **full_request(2), "outputs": [{"name": "label"}]}
    assert plain_request(body, SCHEMA) is not None
    nested = {"inputs": [{**t, "shape": [2, 1], "data": [[v] for v in t["data"]]} for t in full_request(2)["inputs"]]}
    assert plain_request(nested, SCHEMA) is None  # nested rows: the general reader flattens them
    rid, names, cols = read_request(orjson.dumps(nested), None, SCHEMA)
    assert (rid, names, cols.n, cols.values["plan"]) == (None, ["probability", "label", "error"], 2, ["a", "a"])


def test_a_request_the_general_reader_refuses_keeps_its_message() -> None:
    body = {"inputs": [{**t, "datatype": "FP64"} if t["name"] == "plan" else t for t in full_request(1)["inputs"]]}
    assert plain_request(body, SCHEMA) is None
    try:
        read_request(orjson.dumps(body), None, SCHEMA)
    except RequestRejected as rej:
        assert rej.status == 400 and "input 'plan' is categorical: send datatype BYTES, not FP64" in rej.message
    else:
        raise AssertionError("a categorical sent as FP64 was read")


def test_the_benchmark_body_of_the_churn_model_is_plain() -> None:
    from evals.bench_serving import v2_body
    from ml_core.data.churn import load_churn

    records = load_churn().drop(columns=["churn", "customer_id"]).head(16).to_dict("records")
    raw = orjson.dumps(v2_body(records))
    fast = plain_request(orjson.loads(raw), CHURN_SCHEMA)
    assert fast is not None and fast[2].n == 16
    assert (fast[0], fast[1], orjson.dumps({"values": fast[2].values, "n": 16})) == general(raw, CHURN_SCHEMA)
