"""Ingesting predictions and labels of a model served elsewhere: formats, per-record errors, all-or-nothing."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
import sqlalchemy as sa

from ml_core.data.credit import load_credit
from ml_core.ingest import decision_threshold, ingest_labels, ingest_predictions
from ml_core.ingest_read import IngestFileError, read_records
from ml_core.monitoring.slo import rejected_fields
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.registry import Registry
from ml_core.spec.store import SpecStore
from tests.ingest_support import prediction_records

NOW = time.time()


@pytest.fixture(scope="module")
def credit_rows() -> pd.DataFrame:
    return load_credit().head(40)


@pytest.fixture
def spec(layout):
    return SpecStore(layout).get("credit")


@pytest.fixture
def log(layout):
    with PredictionLog(layout.predictions_db("credit")) as handle:
        yield handle


def test_jsonl_predictions_land_like_served_ones(tmp_path, spec, log, credit_rows):
    records = prediction_records(credit_rows)
    records[0]["timestamp"] = "2024-05-01T12:00:00Z"  # ISO 8601 as well as unix seconds
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    result = ingest_predictions(log, spec, read_records(path, spec), threshold=0.5)
    assert (result.total, result.accepted, result.rejected, result.errors) == (40, 40, 0, [])
    got = log.predictions()
    assert len(got) == 40 and log.rejections().empty
    first = got[got["record_id"] == "k00000"].iloc[0]
    assert first["ts"] == pd.Timestamp("2024-05-01T12:00:00Z").timestamp()
    assert first["version"] == "3" and first["role"] == "champion" and first["latency_ms"] == 12.5
    assert first["Income"] == 129 and first["Home"] == "rent"
    assert (got["label"] == (got["score"] >= 0.5).astype(int)).all()  # the decision at the threshold
    # a served prediction reads back with the same columns: monitoring cannot tell them apart
    log.write_predictions([PredictionRow("served", "k99999", NOW, "credit", "3", "champion", None, None, 0.2, 0,
                                         5.0, {k: v for k, v in records[1].items() if k in spec.schema.feature_names})])
    both = log.predictions()
    assert both[both["record_id"] == "k99999"].columns.tolist() == both.columns.tolist()
    assert both.notna().sum()["Seniority"] == 41


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_predictions_and_labels(tmp_path, spec, log, credit_rows, fmt):
    frame = pd.DataFrame(prediction_records(credit_rows))
    path = tmp_path / f"preds.{fmt}"
    frame.to_csv(path, index=False) if fmt == "csv" else frame.to_parquet(path)
    result = ingest_predictions(log, spec, read_records(path, spec))
    assert result.accepted == 40, [e.describe() for e in result.errors]
    labels = pd.DataFrame({"credit_id": credit_rows["credit_id"], "label": credit_rows["Status"]})
    labels.loc[0, "label"] = "1"  # 0/1 are accepted beside the spec's own values
    lpath = tmp_path / f"labels.{fmt}"
    labels.to_csv(lpath, index=False) if fmt == "csv" else labels.to_parquet(lpath)
    lres = ingest_labels(log, spec, read_records(lpath, spec))
    assert lres.accepted == 40 and not lres.errors
    joined = log.labelled().set_index("record_id")
    expected = (credit_rows.set_index("credit_id")["Status"] == "bad").astype(int)
    expected.iloc[0] = 1
    assert joined["actual"].sort_index().tolist() == expected.sort_index().tolist()
    feats = log.labelled_features()
    assert len(feats) == 40 and {"actual", "Income", "Job"} <= set(feats.columns)


def test_per_record_errors_keep_the_valid_ones_and_log_rejections(tmp_path, spec, log, credit_rows):
    records = prediction_records(credit_rows.head(10))
    records[1]["Income"] = 99_999  # out of the spec's range
    records[2]["Home"] = "castle"  # unknown category
    records[3].pop("score")
    records[4]["score"] = 1.5
    records[5]["timestamp"] = "yesterday"
    records[6]["credit_id"] = None
    records[7]["Seniority"] = None  # not nullable in the spec
    lines = [json.dumps(r) for r in records]
    lines.insert(8, "{not json")
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines))
    result = ingest_predictions(log, spec, read_records(path, spec))
    assert (result.total, result.accepted, result.rejected) == (11, 3, 8)
    found = {(e.row, e.field, e.problem) for e in result.errors}
    assert found == {(2, "Income", "out_of_range"), (3, "Home", "unknown_category"), (4, "score", "missing"),
                     (5, "score", "out_of_range"), (6, "timestamp", "bad_timestamp"), (7, "credit_id", "missing"),
                     (8, "Seniority", "null"), (9, None, "malformed_json")}
    assert sorted(log.predictions()["record_id"]) == ["k00000", "k00008", "k00009"]
    rejections = log.rejections()
    assert int(rejections["rows"].sum()) == 8  # the data-quality check counts them, as it counts refused requests
    fields = {(f.field, f.problem) for f in rejected_fields(rejections)}
    assert {("Income", "out_of_range"), ("Home", "unknown_category")} <= fields


def test_a_bad_csv_cell_rejects_its_row_only(tmp_path, spec, log, credit_rows):
    frame = pd.DataFrame(prediction_records(credit_rows.head(5)))
    frame["Age"] = frame["Age"].astype(object)
    frame.loc[2, "Age"] = "forty"
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    result = ingest_predictions(log, spec, read_records(path, spec))
    assert result.accepted == 4
    assert [(e.row, e.field, e.problem) for e in result.errors] == [(3, "Age", "wrong_type")]


def test_label_errors(spec, log):
    result = ingest_labels(log, spec, [{"credit_id": "a", "label": "good"}, {"credit_id": "b", "label": "maybe"},
                                       {"label": "bad"}, {"credit_id": "c", "Status": "bad", "timestamp": NOW - 5},
                                       {"credit_id": "d", "label": 1, "timestamp": 4e12}, "not a record"])
    assert result.accepted == 2
    assert {(e.row, e.field, e.problem) for e in result.errors} == {
        (2, "label", "unknown_label"), (3, "credit_id", "missing"), (5, "timestamp", "bad_timestamp"),
        (6, None, "bad_record")}
    assert log.rejections().empty  # a label is not an input: the rejection log is for refused inputs


def test_a_failure_mid_batch_writes_nothing(spec, log, credit_rows):
    records = prediction_records(credit_rows.head(10))
    records[4]["score"] = "high"  # one invalid record: its rejection is written after the valid predictions
    # The database refuses the batch's last statement: the predictions inserted before it must roll back.
    with log.store.engine.begin() as conn:
        conn.execute(sa.text("CREATE TRIGGER no_rejections BEFORE INSERT ON rejections "
                             "BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
    with pytest.raises(sa.exc.IntegrityError, match="disk full"):
        ingest_predictions(log, spec, records)
    assert log.count() == 0 and log.rejections().empty
    # and write_batch itself: a label that breaks a constraint after the predictions went in
    rows = [PredictionRow("b", "r1", NOW, "credit", "3", "champion", None, None, 0.4, 0, 1.0, {"Age": 30})]
    with pytest.raises(sa.exc.IntegrityError):
        log.write_batch(predictions=rows, labels=[("r1", None, NOW)])  # type: ignore[list-item]
    assert log.count() == 0


@pytest.mark.parametrize("name, content, message", [
    ("missing.csv", None, "file not found"),
    ("empty.csv", "", "is empty"),
    ("header.csv", "credit_id,score\n", "holds no records"),
    ("broken.parquet", "not parquet at all", "could not read"),
    ("preds.xlsx", "x", "unknown file type"),
])
def test_unreadable_files_say_why(tmp_path, spec, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(IngestFileError, match=message):
        read_records(path, spec)


def test_decision_threshold_without_a_champion_is_the_conventional_one(layout):
    assert decision_threshold(Registry(layout), "credit") == 0.5
