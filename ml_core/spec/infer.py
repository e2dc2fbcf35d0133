"""Infer a spec from a table: each column's kind, range, categories and whether it may be null.

Anything that would make a useless or misleading spec (a constant column, an id posing as a category, numbers
mixed with text) is refused with a SpecError that names the column and the option that fixes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from ml_core.data.schema import label_text
from ml_core.spec.errors import SpecError, check_name, describe_errors
from ml_core.spec.model_spec import ColumnSpec, ModelSpec

# A text column with this many distinct values, most of them unique, is an id or free text, not a category.
MIN_ID_LIKE_VALUES = 20
# More categories than this one-hot encode into noise and make the spec unreadable.
MAX_CATEGORIES = 200
SYNTHETIC_ID = "record_id"  # the id column of a table that has none (row numbers; callers send their ids)
MAX_DEFAULT_SLICES = 3
MIN_POSITIVE_ROWS = 20
PARQUET_SUFFIXES = (".parquet", ".pq")
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".zip", ".xz", ".zst")


@dataclass
class Inferred:
    spec: ModelSpec
    notes: list[str] = field(default_factory=list)  # what the user should know: defaults chosen, nulls seen


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame, or a SpecError saying why not and what to give instead."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SpecError(f"data file not found: {path}")
    if path.is_dir():
        raise SpecError(f"{path} is a folder; give a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise SpecError(f"{path} is empty (0 bytes): it needs a header row and at least one data row")
    df = _parse(path, _format_of(path))
    if df.empty:
        what = f"a header ({', '.join(map(str, df.columns))}) but" if len(df.columns) else "nothing:"
        raise SpecError(f"{path} has {what} no data rows")
    # pandas' saved index comes back as 'Unnamed: 0' = 0..n-1: it is no column of the user's table.
    return df.drop(columns=[c for c in df.columns if str(c).startswith("Unnamed: ")
                            and df[c].equals(pd.Series(range(len(df)), index=df.index))])


def _format_of(path: Path) -> str:
    """'parquet' or 'csv', by content first: a Parquet file named .csv is still Parquet."""
    try:
        with path.open("rb") as f:
            head = f.read(8192)
    except OSError as exc:
        raise SpecError(f"cannot open {path}: {exc.strerror or exc}") from exc
    if head.startswith(b"PAR1") or path.suffix.lower() in PARQUET_SUFFIXES:
        return "parquet"
    if path.suffix.lower() in COMPRESSED_SUFFIXES:
        return "csv"  # pandas decompresses by suffix; the raw bytes are not text
    if head.startswith(b"PK\x03\x04"):
        raise SpecError(f"{path} is a zip archive (an Excel workbook?), not CSV; export the sheet as CSV")
    if b"\x00" in head:
        raise SpecError(f"{path} is a binary file, not CSV text; give a CSV (UTF-8) or Parquet file")
    return "csv"


def _parse(path: Path, fmt: str) -> pd.DataFrame:
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        df = pd.read_csv(path)
        if len(df.columns) == 1 and any(sep in str(df.columns[0]) for sep in (";", "\t", "|")):
            df = pd.read_csv(path, sep=None, engine="python")  # another delimiter: let the sniffer find it
        return df
    except pd.errors.EmptyDataError as exc:
        raise SpecError(f"{path} has no header row and no data; it needs both") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path} is not UTF-8 text (byte {exc.start}); save it as a UTF-8 CSV or as Parquet") from exc
    except Exception as exc:  # any parser error is the user's file, not our bug
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "Parquet (is it corrupt, or not Parquet?)" if fmt == "parquet" else "CSV"
        raise SpecError(f"could not read {path} as {kind}: {detail}") from exc


def _label_classes(df: pd.DataFrame, label: str, positive: str | None) -> tuple[str, str | None, list[str]]:
    """Positive and negative class from the label column; notes say what was chosen and why."""
    if label not in df.columns:
        raise SpecError(f"label column '{label}' is not in the data; columns: {', '.join(map(str, df.columns))}")
    values = _as_text(df[label].dropna())
    classes = sorted(values.unique())
    notes = []
    if not classes:
        raise SpecError(f"label column '{label}' is empty (null in every row)")
    if len(classes) < 2:
        raise SpecError(f"label column '{label}' has one value ('{classes[0]}') in every row; "
                        "a binary classifier needs two")
    if positive is None:
        if len(classes) > 2:
            raise SpecError(f"label column '{label}' has {len(classes)} values ({', '.join(classes[:8])}"
                            f"{'…' if len(classes) > 8 else ''}); pass --positive VALUE to name the positive "
                            "class (the others become negative)")
        counts = values.value_counts()
        positive = str(counts.index[-1]) if counts.iloc[0] != counts.iloc[-1] else classes[-1]
        notes.append(f"positive class '{positive}' (the rarer of {', '.join(classes)}); "
                     "pass --positive to choose the other")
    elif positive not in classes:
        raise SpecError(f"--positive '{positive}' is not a value of '{label}'; its values: {', '.join(classes[:8])}")
    negative = next(c for c in classes if c != positive) if len(classes) == 2 else None
    if negative is None:
        notes.append(f"one-vs-rest: '{positive}' is positive, the other {len(classes) - 1} values negative")
    positives = int((values == positive).sum())
    if positives < MIN_POSITIVE_ROWS:
        notes.append(f"only {positives} row(s) are '{positive}': test metrics will be noisy")
    nulls = int(df[label].isna().sum())
    if nulls:
        notes.append(f"{nulls} row(s) have no label: `opsagent train` refuses them unless --quarantine sets "
                     "them aside (or remove them from the file)")
    return positive, negative, notes


def _as_text(values: pd.Series) -> pd.Series:
    """Non-null label and category values as the strings the spec stores: the rule validation and training
    read labels by (integral floats without '.0'), so a spec never names a value they would not match."""
    return label_text(values).astype(str)


def _numeric_column(name: str, values: pd.Series, nullable: bool) -> ColumnSpec:
    finite = values.dropna().astype("float64")
    if np.isinf(finite.to_numpy()).any():
        raise SpecError(f"column '{name}' has infinite values; replace them (or leave the cell empty for a null), "
                        f"or drop the column with --drop {name}")
    integral = bool(np.all(np.mod(finite.to_numpy(), 1) == 0))
    lo, hi = float(finite.min()), float(finite.max())
    # The valid range is what training saw widened by its own span on each side (never below 0 for a
    # column that was never negative): wide enough that real drift passes validation and is judged as
    # drift, narrow enough that a unit change or a sentinel (-999, 1e9) is caught as bad data. Edit to taste.
    span = hi - lo
    low = 0.0 if lo >= 0 and lo - span < 0 else lo - span
    return ColumnSpec(name=name, kind="integer" if integral else "numeric", low=low, high=hi + span,
                      nullable=nullable)


def _column(name: str, raw: pd.Series) -> ColumnSpec:
    """One column's spec; SpecError naming the column (and --drop) for a column no model can use."""
    present = raw.dropna()
    nullable = len(present) < len(raw)
    if len(present) == 0:
        raise SpecError(f"column '{name}' is entirely empty (null in all {len(raw)} rows); "
                        f"drop it with --drop {name}")
    if present.nunique() == 1:
        rows = "every row" if not nullable else f"every non-null row ({len(present)} of {len(raw)})"
        raise SpecError(f"column '{name}' has one value ('{present.iloc[0]}') in {rows}, so it carries no "
                        f"signal; drop it with --drop {name}")
    if pd.api.types.is_datetime64_any_dtype(present) or pd.api.types.is_timedelta64_dtype(present):
        raise SpecError(f"column '{name}' holds dates or times, which a spec cannot describe yet; drop it with "
                        f"--drop {name} (or add numeric features derived from it to the file)")
    if pd.api.types.is_bool_dtype(present) or present.map(type).isin([bool, np.bool_]).all():
        return ColumnSpec(name=name, kind="categorical", categories=["False", "True"], nullable=nullable)
    if pd.api.types.is_numeric_dtype(present):
        return _numeric_column(name, present, nullable)
    as_number = pd.to_numeric(present, errors="coerce")
    numbers = int(as_number.notna().sum())
    if numbers == len(present):
        return _numeric_column(name, as_number, nullable)
    if numbers > len(present) / 2:
        bad = present[as_number.isna()].astype(str).unique()[:3]
        raise SpecError(f"column '{name}' mixes numbers and text: {len(present) - numbers} of {len(present)} "
                        f"values are not numbers (e.g. {', '.join(repr(b) for b in bad)}); clean it (an empty "
                        f"cell is a null), or drop it with --drop {name}")
    return _text_column(name, _as_text(present), nullable)


def _text_column(name: str, text: pd.Series, nullable: bool) -> ColumnSpec:
    categories = sorted(text.unique())
    if len(categories) >= MIN_ID_LIKE_VALUES and len(categories) > len(text) / 2:
        raise SpecError(f"column '{name}' has {len(categories)} distinct values in {len(text)} rows, like an "
                        f"id or free text; pass --id {name} if it identifies a row, or --drop {name}")
    if len(categories) > MAX_CATEGORIES:
        raise SpecError(f"column '{name}' has {len(categories)} distinct text values, too many for a category "
                        f"(at most {MAX_CATEGORIES}); group its rare values in the file, or drop it with "
                        f"--drop {name}")
    return ColumnSpec(name=name, kind="categorical", categories=categories, nullable=nullable)


def _check_options(df: pd.DataFrame, label: str, id_column: str | None, drop: Sequence[str]) -> None:
    """The options name columns of the table, and no column plays two parts."""
    named = [*drop, *([id_column] if id_column else [])]
    missing = [c for c in named if c not in df.columns]
    if missing:
        raise SpecError(f"column(s) {', '.join(missing)} not in the data; columns: {', '.join(map(str, df.columns))}")
    if label in drop:
        raise SpecError(f"--drop {label}: '{label}' is the label; it cannot be dropped")
    if id_column is not None and id_column == label:
        raise SpecError(f"--id {label}: '{label}' is the label; the id column must be another column")
    if id_column is not None and id_column in drop:
        raise SpecError(f"'{id_column}' is given both as --id and in --drop; choose one")


def _choose_slices(columns: list[ColumnSpec], slices: Sequence[str] | None) -> list[str]:
    """--slices checked (categorical feature columns), or by default the first few small categoricals."""
    kinds = {c.name: c for c in columns}
    if slices is None:
        return [c.name for c in columns if c.kind == "categorical" and 2 <= len(c.categories) <= 10][
            :MAX_DEFAULT_SLICES]
    for s in slices:
        if s not in kinds:
            raise SpecError(f"--slices: '{s}' is not a feature column (features: {', '.join(kinds)})")
        if kinds[s].kind != "categorical":
            raise SpecError(f"--slices: '{s}' is {kinds[s].kind}; slices must be categorical columns")
    return list(dict.fromkeys(slices))


def _id_notes(df: pd.DataFrame, id_column: str | None) -> list[str]:
    if id_column is None:
        return []
    dupes = int(df[id_column].duplicated().sum())
    return [f"id column '{id_column}' repeats {dupes} value(s); rows sharing an id stay on one side of the "
            "train/test split"] if dupes else []


def infer_spec(df: pd.DataFrame, name: str, *, label: str, positive: str | None = None,
               id_column: str | None = None, slices: Sequence[str] | None = None, drop: Sequence[str] = (),
               data: str | None = None, **fields: object) -> Inferred:
    """The spec a table implies. Raises SpecError naming the column and the fix for anything unusable."""
    check_name(name)
    if df.empty:
        raise SpecError("the table has no rows")
    _check_options(df, label, id_column, drop)
    positive, negative, notes = _label_classes(df, label, positive)
    skip = {label, *drop, *([id_column] if id_column else [])}
    columns = [_column(str(c), df[c]) for c in df.columns if c not in skip]
    if not columns:
        raise SpecError("no feature columns left besides the label, id and dropped columns")
    chosen = _choose_slices(columns, slices)
    nullable = [c.name for c in columns if c.nullable]
    if nullable:
        notes.append(f"nullable (imputed, null share watched): {', '.join(nullable)}")
    if slices is None and chosen:
        notes.append(f"slices (metrics judged per group): {', '.join(chosen)}; choose others with --slices")
    notes.extend(_id_notes(df, id_column))
    if id_column is None:
        # Delayed labels are joined to predictions by record id, so every model has one: a table without an id
        # column gets row numbers when it is loaded, and callers send their own ids in this field.
        id_column = SYNTHETIC_ID if SYNTHETIC_ID not in df.columns else f"{SYNTHETIC_ID}_"
        notes.append(f"no --id: records are identified by '{id_column}' (row numbers in the training data; send "
                     "your own ids in it with each prediction, so delayed labels can be joined)")
    try:
        spec = ModelSpec.model_validate({
            "name": name, "data": data, "label": {"column": label, "positive": positive, "negative": negative},
            "id_column": id_column, "slices": chosen, "columns": columns, **fields})
    except ValidationError as exc:
        raise SpecError(f"the inferred spec is invalid:\n{describe_errors(exc)}") from exc
    return Inferred(spec, notes)
