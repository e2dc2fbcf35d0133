"""The body decoder (``contract_decoded``) answers a raw ``/predict`` body only as the general path would.

The oracle is the path it sits in front of: ``orjson.loads`` and ``RecordValidator.validate``. Hypothesis draws
bodies of valid records and of records with every kind of bad field, as JSON text (so NaN and infinities, which
``json.dumps`` writes and JSON has not, are malformed); whenever the decoder answers, the general path must accept
every record with the same rows (the same values, of the same types, in the same order) and ids. The bodies the
decoder must leave to the general path (what msgspec would skip unread, a whole float in an integer column,
integers past 64 bits) are checked one by one, and so is that it does answer for the usual body.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.data.schema import Column, TableSchema
from ml_core.serving.contract import RecordValidator, RequestRejected

SCHEMA = TableSchema(columns=(
    Column("plan", "categorical", categories=("basic", "gold")),
    Column("seats", "integer", 0, 100),
    Column("spend", "numeric", 0.0, 1e6),
    Column("tenure", "numeric", nullable=True),  # no range: any finite number
    Column("region", "categorical", categories=("n", "s"), nullable=True),
    Column("age", "integer", 18.5, 130, nullable=True),  # a fractional bound: 19 is the least whole age
    Column("total spend", "numeric", -1.0, 1.0),  # a name that is no identifier
), label="churn", positive_label="yes", negative_label="no", id_column="customer_id")
VALIDATOR = RecordValidator(SCHEMA)


def seen(rows: list[dict[str, Any]]) -> list[list[tuple[str, type, str]]]:
    return [[(k, type(v), repr(v)) for k, v in r.items()] for r in rows]


def general(validator: RecordValidator, raw: bytes) -> tuple[Any, ...]:
    """What the general path makes of ``raw``: its rows and ids when every record is valid, else why not."""
    try:
        batch = validator.validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return ("malformed",)
    except RequestRejected as rej:
        return ("rejected", rej.status)
    if batch.errors:
        return ("partly valid", len(batch.errors))
    return seen(batch.records), batch.ids


def decoded(validator: RecordValidator, raw: bytes) -> tuple[Any, ...] | None:
    batch = validator.validate_raw(raw)
    if batch is None:
        return None
    assert batch.indices == list(range(batch.total)) and batch.errors == [] and batch.total == len(batch.records)
    return seen(batch.records), batch.ids


ABSENT = object()
odd = st.sampled_from([None, ABSENT, True, False, "", "3", "gold", "n", "x", [], {}, [1], 2.5, -1, 0, 7.0, 101, 19,
                       18, 19.0, 2 ** 63 - 1, -(2 ** 63), 2 ** 63, 2 ** 64 - 1, 2 ** 64, 1e308, -1e308, math.nan,
                       math.inf, -math.inf, 1e6, 1e6 + 1, -0.0, 1.0, -1.0, 1.0000000000000002]) \
    | st.floats() | st.integers(-(2 ** 70), 2 ** 70) | st.text(max_size=2)
GOOD: dict[str, st.SearchStrategy] = {
    "plan": st.sampled_from(["basic", "gold"]), "seats": st.integers(0, 100),
    "spend": st.floats(0, 1e6) | st.integers(0, 10 ** 6), "tenure": st.floats(allow_nan=False, allow_infinity=False)
    | st.none() | st.integers(-(2 ** 63), 2 ** 63 - 1) | st.just(ABSENT), "region": st.sampled_from(["n", "s", None]),
    "age": st.integers(19, 130) | st.none(), "total spend": st.floats(-1, 1),
    "customer_id": st.text(max_size=3) | st.integers(-(2 ** 63), 2 ** 63 - 1) | st.none() | st.just(ABSENT)}


@st.composite
def record(draw: st.DrawFn) -> Any:
    """A valid record, then 0-3 of its fields replaced by odd values or an extra field; sometimes not a record."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([None, 3, "r", [], [{"plan": "gold"}]]))
    rec = {k: draw(s) for k, s in GOOD.items()}
    if draw(st.booleans()):
        for field in draw(st.lists(st.sampled_from([*GOOD, "extra"]), max_size=3)):
            rec[field] = draw(odd)
    return {k: v for k, v in rec.items() if v is not ABSENT}


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(st.lists(record(), min_size=0, max_size=6), st.sampled_from(["records", "record", "both"]))
def test_whenever_the_decoder_answers_the_general_path_gives_the_same_rows(records: list[Any], key: str) -> None:
    body: Any = {"records": records, "note": 1} if key == "both" else {key: records}
    raw = json.dumps(body).encode()
    fast = decoded(VALIDATOR, raw)
    if fast is not None:
        assert general(VALIDATOR, raw) == fast


def test_the_usual_body_is_decoded_with_the_rows_the_general_path_builds() -> None:
    records = load_churn().drop(columns=["churn"]).head(300).to_dict("records")
    validator = RecordValidator(CHURN_SCHEMA)
    for batch in (records[:1], records[:16], records):
        raw = json.dumps({"records": batch}).encode()
        fast = decoded(validator, raw)
        assert fast is not None and fast == general(validator, raw)
    raw = json.dumps({"records": [{"plan": "gold", "seats": 3, "spend": 2, "region": None, "age": 19,
                                   "total spend": -1.0, "customer_id": 17}]}).encode()
    assert decoded(VALIDATOR, raw) == ([[("plan", str, "'gold'"), ("seats", int, "3"), ("spend", int, "2"),
                                         ("tenure", type(None), "None"), ("region", type(None), "None"),
                                         ("age", int, "19"), ("total spend", float, "-1.0")]], ["17"])


VALID = '{"plan": "gold", "seats": 3, "spend": 2.5, "total spend": 0.5'


@pytest.mark.parametrize("raw", [
    VALID.encode() + b', "extra": "\xff"}', VALID.encode() + b', "extra": 1e999}',  # what msgspec would skip unread
    VALID.encode() + b', "extra": 1}',  # any extra field: read by orjson, then judged
    VALID.encode() + b', "seats": 3.0}',  # a whole float in an integer column: accepted as it is, by the contract
    VALID.encode() + b', "tenure": 9223372036854775808}',  # past 64 bits orjson reads a float
    VALID.encode() + b', "customer_id": 18446744073709551615}',
    VALID.encode() + b', "seats": true}', VALID.encode() + b', "age": 18}', VALID.encode() + b', "plan": "x"}',
    VALID.encode() + b', "spend": null}', VALID.encode() + b', "tenure": NaN}', b'{"plan": "gold"}',
    VALID.encode() + b', "customer_id": true}', VALID.encode() + b', "customer_id": 1.5}',
    VALID.encode() + b', "total spend": 1.0000000000000002}',
    VALID.encode() + b'} x', VALID.encode() + b', "customer_id": "\\ud800"}', b"[]", b"null", b"",
])
def test_bodies_the_decoder_leaves_to_the_general_path(raw: bytes) -> None:
    for body in (raw, b'{"records": [' + raw + b']}', b'{"records": [' + raw + b'], "meta": {}}'):
        assert decoded(VALIDATOR, body) is None


def test_batch_limits_and_duplicate_keys() -> None:
    one = VALID + "}"
    assert decoded(VALIDATOR, b'{"records": []}') is None
    small = RecordValidator(SCHEMA, max_records=3)
    assert decoded(small, ('{"records": [' + ", ".join([one] * 3) + "]}").encode()) is not None
    assert decoded(small, ('{"records": [' + ", ".join([one] * 4) + "]}").encode()) is None
    with pytest.raises(RequestRejected) as rej:
        small.validate(orjson.loads('{"records": [' + ", ".join([one] * 4) + "]}"))
    assert rej.value.status == 413
    # a repeated key: the last one counts, in both readers
    raw = ('{"records": [' + VALID + ', "seats": 4}]}').encode()
    last = decoded(VALIDATOR, raw)
    assert last is not None and last == general(VALIDATOR, raw) and last[0][0][1] == ("seats", int, "4")
    twice = ('{"records": [' + one + '], "records": [' + one + ", " + one + "]}").encode()
    both = decoded(VALIDATOR, twice)
    assert both is not None and both == general(VALIDATOR, twice) and len(both[1]) == 2


def test_a_categorical_column_without_categories_turns_the_decoder_off() -> None:
    schema = TableSchema(columns=(Column("c", "categorical"),), label="y", positive_label="1", negative_label="0")
    assert decoded(RecordValidator(schema), b'{"records": [{"c": null}]}') is None


def test_the_drawn_bodies_reach_the_decoder_often() -> None:
    """The property above is only as strong as the share of drawn bodies the decoder answers."""
    answered = []

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(record(), min_size=1, max_size=3))
    def draw(records: list[Any]) -> None:
        answered.append(decoded(VALIDATOR, json.dumps({"records": records}).encode()) is not None)

    draw()
    assert 0.2 < sum(answered) / len(answered) < 0.9
