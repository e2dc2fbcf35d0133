"""Spec inference from real files, the YAML round trip, and every bad input as a SpecError that says what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ml_core.data.credit import load_credit
from ml_core.paths import HomeLayout
from ml_core.spec.errors import SpecError
from ml_core.spec.infer import infer_spec, read_table
from ml_core.spec.store import SpecStore, dump_spec, parse_spec

CREDIT_NULLABLE = ["Home", "Marital", "Job", "Income", "Assets", "Debt"]


@pytest.fixture(scope="module")
def credit_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("credit") / "credit.csv"
    load_credit().to_csv(path, index=False)
    return path


def small(**extra: object) -> pd.DataFrame:
    """40 rows: a numeric and a categorical feature, label y with 'p' the rarer class."""
    return pd.DataFrame({"x": np.arange(40) * 1.5, "c": ["a", "b"] * 20, "y": ["p", "n", "n", "n"] * 10, **extra})


def error_of(df: pd.DataFrame, **kwargs: object) -> str:
    with pytest.raises(SpecError) as info:
        infer_spec(df, "m", **{"label": "y", **kwargs})  # type: ignore[arg-type]
    return str(info.value)


def test_credit_csv_is_inferred(credit_csv):
    inferred = infer_spec(read_table(credit_csv), "credit2", label="Status", id_column="credit_id",
                          data=str(credit_csv))
    spec = inferred.spec
    kinds = {c.name: c.kind for c in spec.columns}
    assert kinds["Seniority"] == "integer" and kinds["Income"] == "integer"
    assert kinds["Home"] == kinds["Marital"] == kinds["Job"] == kinds["Records"] == "categorical"
    assert [c.name for c in spec.columns if c.nullable] == CREDIT_NULLABLE
    assert (spec.label.positive, spec.label.negative) == ("bad", "good")
    assert "credit_id" not in kinds and "Status" not in kinds
    assert any("positive class 'bad'" in n and "rarer" in n for n in inferred.notes)
    home = next(c for c in spec.columns if c.name == "Home")
    assert set(home.categories) == set(load_credit()["Home"].dropna())
    age = next(c for c in spec.columns if c.name == "Age")
    assert age.low <= 18 and age.high >= 68  # the range covers what training saw


def test_round_trip_is_exact_and_yaml_is_lean(credit_csv):
    spec = infer_spec(read_table(credit_csv), "credit2", label="Status", id_column="credit_id").spec
    text = dump_spec(spec)
    assert parse_spec(text, "test") == spec
    numeric_block = text.split("- name: Seniority")[1].split("- name:")[0]
    categorical_block = text.split("- name: Home")[1].split("- name:")[0]
    assert "categories" not in numeric_block and "high: 96\n" in numeric_block
    assert "low:" not in categorical_block and "high:" not in categorical_block
    assert "latency_budget_ms: null" in text  # unset SLOs visible by name


def test_parquet_named_csv_is_read_by_its_content(tmp_path):
    path = tmp_path / "actually-parquet.csv"
    small().to_parquet(path)
    assert read_table(path).shape == (40, 3)


def test_labels_two_values_numeric_and_one_vs_rest():
    zero_one = infer_spec(small(y=[0, 1, 1, 1] * 10), "m", label="y")
    assert (zero_one.spec.label.positive, zero_one.spec.label.negative) == ("0", "1")
    chosen = infer_spec(small(y=[0.0, 1.0, 1.0, 1.0] * 10), "m", label="y", positive="1").spec.label
    assert (chosen.positive, chosen.negative) == ("1", "0")
    many = infer_spec(small(y=["a", "b", "c", "d"] * 10), "m", label="y", positive="a")
    assert many.spec.label.positive == "a" and many.spec.label.negative is None
    assert any("one-vs-rest" in n for n in many.notes)


def test_drop_removes_a_constant_or_empty_column_and_bools_stay_categorical():
    spec = infer_spec(small(k=5, e=np.nan, b=[True, False, None, True] * 10), "m", label="y",
                      drop=["k", "e"]).spec
    columns = {c.name: c for c in spec.columns}
    assert set(columns) == {"x", "c", "b"}
    assert columns["b"].kind == "categorical" and columns["b"].categories == ["False", "True"] and columns["b"].nullable


@pytest.mark.parametrize("frame, kwargs, message", [
    (small(y=["a", "b", "c"] * 13 + ["a"]), {}, "label column 'y' has 3 values (a, b, c); pass --positive"),
    (small(), {"label": "outcome"}, "label column 'outcome' is not in the data; columns: x, c, y"),
    (small(), {"positive": "maybe"}, "--positive 'maybe' is not a value of 'y'; its values: n, p"),
    (small(y="p"), {}, "label column 'y' has one value ('p') in every row"),
    (small(m=["1", "2", "x"] + ["3"] * 37), {}, "column 'm' mixes numbers and text: 1 of 40 values are not numbers"),
    (small(e=np.nan), {}, "column 'e' is entirely empty (null in all 40 rows); drop it with --drop e"),
    (small(k=7), {}, "column 'k' has one value ('7') in every row, so it carries no signal; drop it with --drop k"),
    (small(k=[7.0] * 39 + [np.nan]), {}, "one value ('7.0') in every non-null row (39 of 40)"),
    (small(user=[f"u{i}" for i in range(40)]), {}, "column 'user' has 40 distinct values in 40 rows, like an id "
     "or free text; pass --id user if it identifies a row, or --drop user"),
    (small(t=pd.date_range("2024-01-01", periods=40)), {}, "column 't' holds dates or times"),
    (small(z=[np.inf] + [1.0] * 39), {}, "column 'z' has infinite values"),
    (small(), {"slices": ["x"]}, "--slices: 'x' is numeric; slices must be categorical columns"),
    (small(), {"slices": ["q"]}, "--slices: 'q' is not a feature column"),
    (small(), {"id_column": "y"}, "--id y: 'y' is the label"),
    (small(), {"drop": ["y"]}, "--drop y: 'y' is the label"),
    (small(), {"drop": ["nope"]}, "column(s) nope not in the data"),
    (small()[["y"]], {}, "no feature columns left"),
])
def test_bad_tables_name_the_column_and_the_fix(frame, kwargs, message):
    assert message in error_of(frame, **kwargs)


def test_bad_model_name():
    with pytest.raises(SpecError, match="'My Model' is not a model name"):
        infer_spec(small(), "My Model", label="y")


@pytest.mark.parametrize("content, message", [
    (b"", "is empty (0 bytes)"),
    (b"a,b,y\n", "has a header (a, b, y) but no data rows"),
    (b"\n\n", "has no header row and no data"),
    (bytes(range(256)) * 8, "is a binary file, not CSV text"),
    (b"PK\x03\x04" + b"\x01" * 100, "is a zip archive (an Excel workbook?)"),
    ("a,y\n1,é\n".encode("latin-1"), "is not UTF-8 text"),
])
def test_unreadable_csv(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(SpecError) as info:
        read_table(path)
    assert message in str(info.value) and str(path) in str(info.value)


def test_corrupt_parquet_missing_file_and_folder(tmp_path):
    good = tmp_path / "good.parquet"
    small().to_parquet(good)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(SpecError, match="could not read .* as Parquet"):
        read_table(corrupt)
    with pytest.raises(SpecError, match="data file not found"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(SpecError, match="is a folder; give a CSV or Parquet file"):
        read_table(tmp_path)


def test_semicolon_separated_csv_is_sniffed(tmp_path):
    path = tmp_path / "semi.csv"
    small().to_csv(path, sep=";", index=False)
    assert list(read_table(path).columns) == ["x", "c", "y"]


def test_store_builtins_are_valid_and_written_on_first_use(tmp_path):
    store = SpecStore(HomeLayout(tmp_path / "home").ensure())
    credit = store.get("credit")
    assert [c.name for c in credit.columns if c.nullable] == CREDIT_NULLABLE
    assert credit.label.positive == "bad" and store.path("credit").exists()
    churn = store.get("churn")
    assert churn.label.column == "churn" and store.get("churn") == churn  # read back from its file: the same
    assert {"churn", "credit"} <= set(store.names())
    assert parse_spec(store.path("credit").read_text(), "credit") == credit


EDITS = [
    (lambda t: t.replace("kind: integer", "kind: text", 1),
     "columns.0 (Seniority).kind: Input should be 'numeric', 'integer' or 'categorical' (the file has 'text')"),
    (lambda t: t.replace("high: 96\n", "high: -5\n"), "columns.0 (Seniority): column 'Seniority': low 0 is above"),
    (lambda t: t.replace("- Marital\n", "- Nope\n", 1), "slice column 'Nope' is not one of the columns"),
    (lambda t: t.replace("  column: Status", "  column: Home"), "'Home' is the label; it cannot also be a feature"),
    (lambda t: t + "  - [unclosed\n", "not valid YAML at line"),
    (lambda t: t.replace("alpha: 0.01", "alpha: 3"), "drift.alpha: Input should be less than 0.5"),
    (lambda t: t.replace("nullable: true", "nullable: sometimes", 1), "columns.1 (Home).nullable"),
    (lambda t: t.replace("name: credit\n", "name: other\n", 1), "name: the file says 'other'"),
    (lambda t: t + "colour: blue\n", "colour: Extra inputs are not permitted"),
    (lambda t: "", "expected a mapping with name, label and columns, found nothing"),
]


@pytest.mark.parametrize("edit, message", EDITS)
def test_edited_invalid_spec_names_the_field(tmp_path, edit, message):
    store = SpecStore(HomeLayout(tmp_path / "home").ensure())
    store.get("credit")
    path = store.path("credit")
    path.write_text(edit(path.read_text()))
    with pytest.raises(SpecError) as info:
        store.get("credit")
    assert message in str(info.value) and str(path) in str(info.value)
