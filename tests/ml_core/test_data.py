"""Schema validation, quarantine, splits and fingerprints on the real churn data."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.data.tables import customer_of, fingerprint, load_table, split_frame
from ml_core.data.validation import DataValidationError, validate_frame


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    return load_churn()


def test_churn_loads_offline_with_schema_types(churn):
    assert churn.shape == (5000, 21)
    assert set(CHURN_SCHEMA.feature_names) <= set(churn.columns)
    assert churn["customer_id"].is_unique
    assert churn["account_length"].dtype == "int64"
    assert 0.1 < (churn["churn"] == "yes").mean() < 0.2


def test_missing_column_names_the_column(churn):
    with pytest.raises(DataValidationError) as err:
        validate_frame(churn.drop(columns=["total_day_minutes", "state"]), CHURN_SCHEMA)
    assert "total_day_minutes" in str(err.value) and "state" in str(err.value)
    assert {i.problem for i in err.value.issues} == {"missing_column"}


def test_bad_rows_named_with_counts_or_quarantined(churn, tmp_path):
    bad = churn.head(50).copy()
    bad["account_length"] = bad["account_length"].astype(object)
    bad.loc[0:2, "account_length"] = "abc"          # 3 wrong type
    bad.loc[3, "total_day_minutes"] = None          # 1 null
    bad.loc[4:5, "total_eve_calls"] = -1            # 2 out of range
    bad.loc[6, "area_code"] = "area_code_999"       # 1 unknown category
    with pytest.raises(DataValidationError) as err:
        validate_frame(bad, CHURN_SCHEMA)
    msg = str(err.value)
    assert "7 of 50 rows are invalid" in msg
    assert "'account_length': 3 row(s) wrong type" in msg
    assert "'total_eve_calls': 2 row(s) out of range" in msg
    report = validate_frame(bad, CHURN_SCHEMA, quarantine=True)
    assert len(report.clean) == 43 and len(report.quarantined) == 7
    saved = json.loads(report.save(tmp_path, "batch").read_text())
    assert saved["quarantined_rows"] == 7
    assert (tmp_path / "batch.rows.csv").exists()


def test_load_table_reports_unreadable_and_missing_files(tmp_path):
    with pytest.raises(DataValidationError, match="not found"):
        load_table(tmp_path / "nope.csv", CHURN_SCHEMA)
    garbage = tmp_path / "garbage.csv"
    garbage.write_text("just,one\nline")
    with pytest.raises(DataValidationError, match="missing"):
        load_table(garbage, CHURN_SCHEMA)


def test_split_is_stratified_and_seeded(churn):
    a, b = split_frame(churn, CHURN_SCHEMA, seed=3), split_frame(churn, CHURN_SCHEMA, seed=3)
    assert a.test["customer_id"].tolist() == b.test["customer_id"].tolist()
    rates = [(s["churn"] == "yes").mean() for s in (a.train, a.valid, a.test)]
    assert max(rates) - min(rates) < 0.01
    assert len(a.train) + len(a.valid) + len(a.test) == len(churn)


def test_fingerprint_tracks_content_not_column_order(churn):
    assert fingerprint(churn) == fingerprint(churn[list(reversed(churn.columns))])
    changed = churn.copy()
    changed.loc[0, "total_day_minutes"] += 1
    assert fingerprint(changed) != fingerprint(churn)


def test_single_class_label_is_refused(churn):
    with pytest.raises(DataValidationError, match="single class"):
        split_frame(churn[churn["churn"] == "no"], CHURN_SCHEMA)


def test_split_keeps_a_customers_rows_together(churn):
    copies = churn.sample(400, random_state=1).copy()
    copies["customer_id"] = copies["customer_id"] + "~prod-req-1"
    split = split_frame(pd.concat([churn, copies], ignore_index=True), CHURN_SCHEMA)
    sides = [set(customer_of(part["customer_id"])) for part in (split.train, split.valid, split.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert sum(len(p) for p in (split.train, split.valid, split.test)) == 5400
