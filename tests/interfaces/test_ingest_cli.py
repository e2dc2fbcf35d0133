"""`opsagent ingest` as a user runs it: a real subprocess on a fresh home; counts, first errors, exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ml_core.data.credit import load_credit
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from tests.ingest_support import prediction_records
from tests.interfaces.test_cli import run


@pytest.fixture(scope="module")
def credit_rows() -> pd.DataFrame:
    return load_credit().head(6)


def write_jsonl(path, records) -> None:
    path.write_text("\n".join(json.dumps(r) for r in records))


def test_ingest_predictions_then_labels(tmp_path, credit_rows):
    records = prediction_records(credit_rows)
    records[5]["Income"] = 99_999
    preds = tmp_path / "preds.jsonl"
    write_jsonl(preds, records)
    result = run(["ingest", "predictions", str(preds), "--model", "credit", "--threshold", "0.4"], tmp_path / "home")
    assert result.returncode == 0, result.stderr
    assert "credit: 5 of 6 predictions accepted, 1 rejected" in result.stderr and "warning" in result.stderr
    assert "row 6: Income: out of range" in result.stderr and "Traceback" not in result.stderr
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"credit_id": credit_rows["credit_id"], "label": credit_rows["Status"]}).to_csv(labels, index=False)
    result = run(["ingest", "labels", str(labels), "--model", "credit"], tmp_path / "home")
    assert result.returncode == 0 and "credit: 6 of 6 labels accepted, 0 rejected" in result.stdout, result.stderr
    with PredictionLog(HomeLayout(tmp_path / "home").predictions_db("credit")) as log:
        logged = log.predictions()
        assert len(logged) == 5 and len(log.labelled()) == 5 and int(log.rejections()["rows"].sum()) == 1
    assert (logged["label"] == (logged["score"] >= 0.4).astype(int)).all()


def test_nothing_valid_or_unreadable_is_exit_2(tmp_path, credit_rows):
    records = prediction_records(credit_rows)
    for r in records:
        r["score"] = 7
    bad = tmp_path / "bad.jsonl"
    write_jsonl(bad, records)
    for args, message in ((["ingest", "predictions", str(bad), "--model", "credit", "--threshold", "0.5"],
                           "nothing was logged"),
                          (["ingest", "labels", str(tmp_path / "nope.csv"), "--model", "credit"], "file not found"),
                          (["ingest", "labels", str(bad), "--model", "fraud"], "no model 'fraud'")):
        result = run(args, tmp_path / "home")
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_ingest_help_shows_an_example(tmp_path):
    for args in (["ingest", "--help"], ["ingest", "predictions", "--help"], ["ingest", "labels", "--help"]):
        result = run(args, tmp_path)
        assert result.returncode == 0 and "Usage" in result.stdout and "Example: opsagent ingest" in result.stdout
