"""The validator generated from the schema (``contract_compiled``) judges every batch exactly as the loop it replaced.

``Reference`` is ``RecordValidator``'s record loop as it was before the generated check (commit 38ba4cc), kept
here verbatim as the oracle: hypothesis draws batches of valid records and records with every kind of bad field
(missing, null, wrong type, a bool for a number, a fraction for an integer, out of range, unknown category,
NaN/inf, a bad id, extra fields, a record that is not an object; integers within the 64 bits orjson reads), and
the two must give the same rows (the same values, of the same types, in the same order), ids, indices and errors,
or the same refusal.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.data.schema import Column, TableSchema
from ml_core.serving.contract import FieldError, RecordValidator, RequestRejected, ValidatedBatch
from ml_core.serving.contract_compiled import compile_batch_check, compile_row_builder, compile_row_check

SCHEMA = TableSchema(columns=(
    Column("plan", "categorical", categories=("basic", "gold")),
    Column("seats", "integer", 0, 100),
    Column("spend", "numeric", 0.0, 1e6),
    Column("tenure", "numeric", nullable=True),  # no range: any finite number
    Column("region", "categorical", categories=("n", "s"), nullable=True),
    Column("age", "integer", 18, 130, nullable=True),
), label="churn", positive_label="yes", negative_label="no", id_column="customer_id")


class Reference(RecordValidator):
    """The record loop before the generated check, verbatim (``validate``, ``_record``, ``_valid_row``)."""

    def __init__(self, schema: TableSchema):
        super().__init__(schema)
        big = sys.float_info.max
        self._fast = [(c.name, {"categorical": 0, "integer": 2}.get(c.kind, 1), -big if c.low is None else c.low,
                       big if c.high is None else c.high, frozenset(c.categories), c.nullable) for c in schema.columns]

    def validate(self, body: Any) -> ValidatedBatch:
        records = self._records(body)
        batch = ValidatedBatch([], [], [], [], len(records))
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                batch.errors.append(FieldError(i, None, "bad_body", "record is not a JSON object"))
                continue
            found: list[FieldError] = []
            row, rid = self._record(i, rec, found)
            if found:
                batch.errors += [FieldError(e.index, e.field, e.problem, e.detail, rid) for e in found]
                continue
            batch.records.append(row)
            batch.ids.append(rid)
            batch.indices.append(i)
        if not batch.records:
            raise RequestRejected(422, f"all {len(records)} record(s) invalid; nothing was scored",
                                  batch.errors, rows=len(records))
        return batch

    def _record(self, i: int, rec: dict[str, Any], errors: list[FieldError]) -> tuple[dict[str, Any], str | None]:
        row = self._valid_row(rec)
        if row is None:
            row = self._judged_row(i, rec, errors)
        rid = rec.get(self.id_column) if self.id_column else None
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, str | int)):
            errors.append(FieldError(i, self.id_column, "wrong_type", "expected a string id"))
            rid = None
        return row, (None if rid is None else str(rid))

    def _valid_row(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        row: dict[str, Any] = {}
        for name, numeric, low, high, cats, nullable in self._fast:
            v: Any = rec.get(name)
            t = type(v)
            if numeric:
                if (t is float or t is int) and low <= v <= high and (numeric == 1 or t is int or v.is_integer()):
                    row[name] = v
                    continue
            elif t is str and v in cats:
                row[name] = v
                continue
            if v is None and nullable:  # absent or null
                row[name] = None
                continue
            return None
        return row


def outcome(validator: RecordValidator, body: Any) -> tuple[Any, ...]:
    """Everything a caller can see of a validation: rows with each value's type, ids, indices, errors; or the
    refusal's status, message, errors and rows."""
    try:
        b = validator.validate(body)
    except RequestRejected as rej:
        return "rejected", rej.status, rej.message, rej.errors, rej.rows
    rows = [[(k, type(v), repr(v)) for k, v in r.items()] for r in b.records]
    return rows, b.ids, b.indices, b.errors, b.total


class Str(str):
    """A string subclass: not the exact type the generated check takes, so the judging path decides."""


ABSENT = object()  # a field left out of the record
odd = st.sampled_from([None, ABSENT, True, False, "", "3", "gold", "n", "x", [], {}, [1], 2.5, -1, 0, 7.0, 101,
                       2 ** 63 - 1, -(2 ** 63), 2 ** 64 - 1, 1e308, -1e308, math.nan, math.inf, -math.inf, 17, 18,
                       18.0, 1e6, 1e6 + 1, -0.0, Str("gold"), Str("c1")]) \
    | st.floats() | st.integers(-(2 ** 63), 2 ** 64 - 1) | st.text(max_size=2)
GOOD: dict[str, st.SearchStrategy] = {
    "plan": st.sampled_from(["basic", "gold"]), "seats": st.integers(0, 100) | st.integers(0, 100).map(float),
    "spend": st.floats(0, 1e6) | st.integers(0, 10 ** 6), "tenure": st.floats(allow_nan=False, allow_infinity=False)
    | st.none() | st.integers(-(2 ** 63), 2 ** 64 - 1), "region": st.sampled_from(["n", "s", None]),
    "age": st.integers(18, 130) | st.none() | st.integers(18, 130).map(float),
    "customer_id": st.text(max_size=3) | st.integers() | st.none()}


@st.composite
def record(draw: st.DrawFn) -> Any:
    """A valid record, then 0-3 of its fields replaced by odd values and maybe an extra field; sometimes not a
    record at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([None, 3, "r", [], [{"plan": "gold"}]]))
    rec = {k: draw(s) for k, s in GOOD.items()}
    for field in draw(st.lists(st.sampled_from([*GOOD, "extra"]), max_size=3)):
        rec[field] = draw(odd)
    return {k: v for k, v in rec.items() if v is not ABSENT}


def often_valid(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Half the time a record without odd fields, so that all-valid batches (the generated loop's case) are common."""
    clean = st.fixed_dictionaries(GOOD)
    return st.booleans().flatmap(lambda b: clean if b else strategy)


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(st.lists(often_valid(record()), min_size=1, max_size=6))
def test_the_generated_check_judges_every_batch_as_the_loop_did(records: list[Any]) -> None:
    body = {"records": records}
    assert outcome(RecordValidator(SCHEMA), body) == outcome(Reference(SCHEMA), body)


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(record())
def test_the_row_check_says_valid_exactly_when_the_old_fast_row_did(rec: Any) -> None:
    old = Reference(SCHEMA)
    new = compile_row_check(SCHEMA)(rec)
    if not isinstance(rec, dict) or type(rec) is not dict:
        assert new is None
        return
    row = old._valid_row(rec)
    rid = rec.get("customer_id")
    id_ok = rid is None or type(rid) in (str, int)
    if row is None or not id_ok:
        assert new is None
    else:
        assert new is not None
        assert [(k, type(v), repr(v)) for k, v in new[0].items()] == [(k, type(v), repr(v)) for k, v in row.items()]
        assert new[1] == (None if rid is None else str(rid))


def test_the_churn_table_validates_as_before() -> None:
    records = load_churn().drop(columns=["churn"]).head(300).to_dict("records")
    bad = [dict(r) for r in records[:40]]
    bad[3]["total_day_minutes"] = None
    bad[7]["state"] = "XX"
    bad[9]["customer_id"] = True
    for body in ({"records": records}, {"records": bad}):
        assert outcome(RecordValidator(CHURN_SCHEMA), body) == outcome(Reference(CHURN_SCHEMA), body)
    assert compile_batch_check(CHURN_SCHEMA)(records) is not None  # the usual batch takes the generated loop
    assert compile_batch_check(CHURN_SCHEMA)(bad) is None


def test_a_schema_without_an_id_column_or_columns_compiles() -> None:
    plain = TableSchema(columns=(Column("x", "numeric", 0, 1),), label="y", positive_label="1", negative_label="0")
    assert compile_row_check(plain)({"x": 0.5, "customer_id": True}) == ({"x": 0.5}, None)
    empty = TableSchema(columns=(), label="y", positive_label="1", negative_label="0")
    assert compile_batch_check(empty)([{}, {"a": 1}]) == ([{}, {}], [None, None])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(["a", "b'", 'c"', "d e", "x"]), unique=True, max_size=5).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(st.tuples(*[odd] * len(names)), max_size=4))))
def test_the_row_builder_builds_the_dicts_zip_built(case: tuple[list[str], list[tuple]]) -> None:
    names, rows = case
    columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in names]
    built = compile_row_builder(names)(columns)
    expected = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    assert [[(k, type(v), repr(v)) for k, v in r.items()] for r in built] == \
        [[(k, type(v), repr(v)) for k, v in r.items()] for r in expected]
