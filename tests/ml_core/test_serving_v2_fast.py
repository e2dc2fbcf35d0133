"""The one-pass reader of a plain v2 request reads it exactly as the general reader does, or leaves it to it."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.schema import Column, TableSchema
from ml_core.serving.contract import RequestRejected
from ml_core.serving.v2_fast import plain_request
from ml_core.serving.v2_parse import parse_request
from ml_core.serving.v2_protocol import output_names, request_columns
from ml_core.serving.v2_routes import read_request

SCHEMA = TableSchema(columns=(
    Column("plan", "categorical", categories=("a", "b")),
    Column("calls", "integer", low=0, high=10),
    Column("minutes", "numeric", low=0.0, high=9.0, nullable=True),
), label="y", positive_label="yes", negative_label="no", id_column="cid")

scalar = st.one_of(st.none(), st.booleans(), st.integers(-2, 12), st.floats(-1, 10), st.sampled_from(["a", "b", ""]))


def often(usual: st.SearchStrategy, other: st.SearchStrategy, k: int = 8, of: int = 10) -> st.SearchStrategy:
    """``usual`` k times in ``of`` (``one_of`` draws its branches evenly)."""
    return st.integers(0, of - 1).flatmap(lambda i: usual if i < k else other)


RIGHT = {"plan": "BYTES", "calls": "INT64", "minutes": "FP64", "cid": "BYTES", "other": "FP64"}


@st.composite
def tensor(draw: st.DrawFn, name: str, rows: int) -> dict[str, Any]:
    """An input tensor right for ``name`` in each field 19 times in 20, else odd in that field."""
    n = draw(often(st.just(rows), st.integers(0, 3), 19, 20))
    data = draw(st.lists(scalar, min_size=n, max_size=n))
    t: dict[str, Any] = {
        "name": draw(often(st.just(name), st.sampled_from([3, None, ...]), 19, 20)),
        "shape": draw(often(st.sampled_from([[n], [n, 1]]), st.sampled_from(
            [[], [n, 2], [-1], [n, 1, 1], ["1"], [True], [float(n)], ...]), 19, 20)),
        "datatype": draw(often(st.just(RIGHT[name]),
                               st.sampled_from(["FP32", "INT8", "BYTES", "FP64", "BOOL", 5, ...]), 19, 20)),
        "data": draw(often(st.just(data), st.sampled_from([[[v] for v in data], None, "x", ...]), 19, 20)),
        "parameters": draw(often(st.just(...), st.sampled_from([None, {}, {"x": 1}, {"binary_data_size": 0}, 3]),
                                 19, 20)),
    }
    return {k: v for k, v in t.items() if v is not ...}


@st.composite
def request(draw: st.DrawFn) -> Any:
    """A request for SCHEMA: its columns (one sometimes left out), the id or a stranger now and then, in any order."""
    rows = draw(st.integers(1, 3))
    names = draw(st.permutations(["plan", "calls", "minutes", "cid", "other"]))
    keep = [x for x in names if x in ("plan", "calls") or draw(often(st.just(True), st.just(False), 5))]
    keep = [x for x in keep if draw(often(st.just(True), st.just(False), 9))]
    inputs = [draw(tensor(x, rows)) for x in keep]
    body: dict[str, Any] = {"inputs": draw(often(st.just(inputs), st.sampled_from([None, [], {}, ...]), 9))}
    body["id"] = draw(often(st.sampled_from([..., "r1", None]), st.just(7)))
    body["parameters"] = draw(often(st.sampled_from([..., None, {"k": "v"}]), st.just({"k": [1]})))
    body["outputs"] = draw(often(st.sampled_from([..., None, [], [{"name": "label"}],
                                                  [{"name": "error"}, {"name": "label"}]]),
                                 st.sampled_from([[{"name": "nope"}], [{"name": 1}], {"name": "label"},
                                                  [{"name": "label", "parameters": {"a": {}}}]])))
    body = {k: v for k, v in body.items() if v is not ...}
    return draw(often(st.just(body), st.sampled_from([[], "x", None, 1]), 9))


def general(raw: bytes, schema: TableSchema) -> tuple[str | None, list[str], Any] | None:
    """What the general reader makes of ``raw``: (id, outputs, columns as JSON), or None when it refuses it."""
    try:
        req, binary = parse_request(raw, None)
        names = output_names(req)
        cols = request_columns(req, schema, binary)
    except RequestRejected:
        return None
    return req.id, names, orjson.dumps({"values": cols.values, "n": cols.n})


def _full(rows: int) -> dict[str, Any]:
    return {"inputs": [{"name": "plan", "shape": [rows], "datatype": "BYTES", "data": ["a"] * rows},
                       {"name": "calls", "shape": [rows], "datatype": "INT64", "data": [1] * rows},
                       {"name": "minutes", "shape": [rows, 1], "datatype": "FP64", "data": [1.5] * rows}]}


@settings(max_examples=600, deadline=None)
@given(request())
@example(_full(2)).via("a plain request")
@example({**_full(1), "outputs": []}).via("no outputs named: all of them")
@example({"inputs": _full(1)["inputs"][:2]}).via("a nullable column left out")
@example({"inputs": [*_full(1)["inputs"], {"name": "cid", "shape": [1], "datatype": "INT64", "data": [7]}]})
def test_what_the_one_pass_reader_reads_the_general_reader_reads_the_same(body: Any) -> None:
    raw = orjson.dumps(body)
    fast = plain_request(orjson.loads(raw), SCHEMA)
    if fast is None:
        return
    rid, names, cols = fast
    # as JSON: 1, 1.0 and true are told apart; the general reader must accept what this one does
    assert (rid, names, orjson.dumps({"values": cols.values, "n": cols.n})) == general(raw, SCHEMA)


def test_a_plain_request_takes_the_one_pass_way_and_others_the_general_one() -> None:
    body = {"id": "r", **_full(2), "outputs": [{"name": "label"}]}
    assert plain_request(body, SCHEMA) is not None
    nested = {"inputs": [{**t, "shape": [2, 1], "data": [[v] for v in t["data"]]} for t in _full(2)["inputs"]]}
    assert plain_request(nested, SCHEMA) is None  # nested rows: the general reader flattens them
    rid, names, cols = read_request(orjson.dumps(nested), None, SCHEMA)
    assert (rid, names, cols.n, cols.values["plan"]) == (None, ["probability", "label", "error"], 2, ["a", "a"])


def test_a_request_the_general_reader_refuses_keeps_its_message() -> None:
    body = {"inputs": [{**t, "datatype": "FP64"} if t["name"] == "plan" else t for t in _full(1)["inputs"]]}
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
