"""A batch checked whole, column by column, is judged exactly as its records one by one (``contract_columns``)."""

from __future__ import annotations

import math

import pytest

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.data.schema import Column, TableSchema
from ml_core.serving.contract import Columns, RecordValidator, RequestRejected
from ml_core.serving.contract_columns import MIN_ROWS, ColumnCheck

SCHEMA = TableSchema(columns=(
    Column("plan", "categorical", categories=("basic", "gold")),
    Column("seats", "integer", 0, 100),
    Column("spend", "numeric", 0.0, 1e6),
    Column("tenure", "numeric", nullable=True),  # no range: any finite number
    Column("region", "categorical", categories=("n", "s"), nullable=True),
), label="churn", positive_label="yes", negative_label="no", id_column="customer_id")


def _columns(records: list[dict]) -> Columns:
    names = list(dict.fromkeys(k for r in records for k in r))
    return Columns({k: [r.get(k) for r in records] for k in names}, len(records))


def _good(n: int = 6) -> list[dict]:
    return [{"plan": "gold" if i % 2 else "basic", "seats": i, "spend": 10.5 * i, "tenure": float(i),
             "region": "n", "customer_id": f"c{i}"} for i in range(n)]


def _judged(validator: RecordValidator, cols: Columns):
    """What ``validate`` gives for the same batch as records, or the refusal (status, errors)."""
    try:
        b = validator.validate(cols.body())
    except RequestRejected as rej:
        return rej.status, rej.errors
    return b.records, b.ids, b.indices, b.errors, b.total


def _whole(validator: RecordValidator, cols: Columns):
    try:
        b = validator.validate(cols)
    except RequestRejected as rej:
        return rej.status, rej.errors
    return b.records, b.ids, b.indices, b.errors, b.total


def test_a_valid_batch_is_checked_whole_with_the_rows_the_records_give() -> None:
    cols = _columns(_good())
    assert ColumnCheck(SCHEMA).rows(cols.values, cols.n) is not None
    validator = RecordValidator(SCHEMA)
    assert _whole(validator, cols) == _judged(validator, cols)
    rows = validator.validate(cols).records
    assert [list(r) for r in rows] == [SCHEMA.feature_names] * len(rows)  # the schema's order, the id left out
    assert type(rows[0]["seats"]) is int and type(rows[1]["spend"]) is float  # the values as sent


def test_the_churn_table_is_checked_whole() -> None:
    records = load_churn().drop(columns=["churn"]).head(64).to_dict("records")
    cols = _columns(records)
    validator = RecordValidator(CHURN_SCHEMA)
    assert ColumnCheck(CHURN_SCHEMA).rows(cols.values, cols.n) is not None
    assert _whole(validator, cols) == _judged(validator, cols)


def _with(field: str, value: object, at: int = 2) -> list[dict]:
    records = _good()
    records[at] = {**records[at], field: value}
    return records


def _without(field: str, at: int = 2) -> list[dict]:
    records = _good()
    del records[at][field]
    return records


@pytest.mark.parametrize("records", [
    _with("plan", "platinum"), _with("plan", 3), _with("plan", None), _with("region", "east"),
    _with("seats", 2.5), _with("seats", True), _with("seats", "3"), _with("seats", 101), _with("seats", -1),
    _with("spend", math.nan), _with("spend", math.inf), _with("spend", -math.inf), _with("spend", None),
    _with("tenure", math.nan), _with("tenure", math.inf), _with("tenure", "long"),
    _with("customer_id", True), _with("customer_id", 1.5), _with("customer_id", ["x"]),
    _without("spend"), _with("plan", ["gold"]),
], ids=lambda r: "-")
def test_a_batch_with_a_bad_field_is_judged_record_by_record(records: list[dict]) -> None:
    cols = _columns(records)
    assert ColumnCheck(SCHEMA).rows(cols.values, cols.n) is None
    validator = RecordValidator(SCHEMA)
    whole = _whole(validator, cols)
    assert whole == _judged(validator, cols)
    assert whole[3] if len(whole) == 5 else whole[1]  # some error was found and listed


@pytest.mark.parametrize("records", [
    _with("seats", 7.0), _with("spend", 3), _with("tenure", None), _with("region", None), _without("tenure"),
    _without("region"), _with("customer_id", 12), _with("customer_id", None), _without("customer_id"),
    _with("tenure", -1e300), _with("extra", "ignored"),
], ids=lambda r: "-")
def test_what_the_contract_accepts_is_accepted_whole_alike(records: list[dict]) -> None:
    cols = _columns(records)
    assert ColumnCheck(SCHEMA).rows(cols.values, cols.n) is not None
    validator = RecordValidator(SCHEMA)
    whole = _whole(validator, cols)
    assert whole == _judged(validator, cols)
    assert whole[3] == []


def test_small_or_oversized_batches_are_judged_record_by_record() -> None:
    validator = RecordValidator(SCHEMA, max_records=8)
    small = _columns(_good(MIN_ROWS - 1))
    assert _whole(validator, small) == _judged(validator, small)
    big = _columns(_good(9))
    assert _whole(validator, big)[0] == 413


@pytest.mark.parametrize("n", [1, 2, 5])
def test_columns_body_is_the_batch_as_records(n: int) -> None:
    """One record takes a path of its own (the commonest batch); every size gives back the records it came from."""
    records = _good(n)
    assert _columns(records).body() == {"records": records}
