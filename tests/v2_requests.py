"""Drawn v2 inference requests for a small schema, right in most fields and odd in some (the v2 readers' tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ml_core.data.schema import Column, TableSchema

SCHEMA = TableSchema(columns=(
    Column("plan", "categorical", categories=("a", "b")),
    Column("calls", "integer", low=0, high=10),
    Column("minutes", "numeric", low=0.0, high=9.0, nullable=True),
), label="y", positive_label="yes", negative_label="no", id_column="cid")

scalar = st.one_of(st.none(), st.booleans(), st.integers(-2, 12), st.floats(-1, 10), st.sampled_from(["a", "b", ""]))
VALID = {"plan": st.sampled_from(["a", "b"]), "calls": st.integers(0, 10),  # a value SCHEMA's contract takes
         "minutes": st.floats(0, 9) | st.integers(0, 9) | st.none(),
         "cid": st.text(max_size=2) | st.integers(-(2 ** 63), 2 ** 63 - 1), "other": scalar}


def often(usual: st.SearchStrategy, other: st.SearchStrategy, k: int = 8, of: int = 10) -> st.SearchStrategy:
    """``usual`` k times in ``of`` (``one_of`` draws its branches evenly)."""
    return st.integers(0, of - 1).flatmap(lambda i: usual if i < k else other)


RIGHT = {"plan": "BYTES", "calls": "INT64", "minutes": "FP64", "cid": "BYTES", "other": "FP64"}


@st.composite
def tensor(draw: st.DrawFn, name: str, rows: int) -> dict[str, Any]:
    """An input tensor right for ``name`` in each field 19 times in 20, else odd in that field; its values valid
    ones 9 times in 10, else any."""
    n = draw(often(st.just(rows), st.integers(0, 3), 19, 20))
    data = draw(st.lists(often(VALID[name], scalar, 9, 10), min_size=n, max_size=n))
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



def full_request(rows: int) -> dict[str, Any]:
    """A plain request for SCHEMA of ``rows`` valid records (no id)."""
    return {"inputs": [{"name": "plan", "shape": [rows], "datatype": "BYTES", "data": ["a"] * rows},
                       {"name": "calls", "shape": [rows], "datatype": "INT64", "data": [1] * rows},
                       {"name": "minutes", "shape": [rows, 1], "datatype": "FP64", "data": [1.5] * rows}]}
