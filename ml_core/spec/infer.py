"""Infer a spec from a table: each column's kind, range, categories and whether it may be null."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml_core.spec.errors import SpecError
from ml_core.spec.model_spec import ColumnSpec, ModelSpec

# A text column with more distinct values than this (and mostly unique) is an id or free text, not a category.
MAX_CATEGORIES = 200
MAX_DEFAULT_SLICES = 3


@dataclass
class Inferred:
    spec: ModelSpec
    notes: list[str] = field(default_factory=list)  # what the user should know: defaults chosen, nulls seen


def read_table(path) -> pd.DataFrame:
    """A CSV or Parquet file as a frame, or a SpecError saying why not."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise SpecError(f"data file not found: {path}")
    if path.is_dir():
        raise SpecError(f"{path} is a folder; give a CSV or Parquet file")
    try:
        df = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise SpecError(f"{path} is empty: it needs a header row and at least one data row") from exc
    except Exception as exc:  # any parser error is the user's file, not our bug
        raise SpecError(f"could not read {path} as {'Parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'}"
                        f": {exc}") from exc
    if df.empty:
        raise SpecError(f"{path} has no data rows")
    return df.drop(columns=[c for c in df.columns if str(c).startswith("Unnamed: ")
                            and df[c].equals(pd.Series(range(len(df)), index=df.index))])


def _label_classes(df: pd.DataFrame, label: str, positive: str | None) -> tuple[str, str | None, list[str]]:
    if label not in df.columns:
        raise SpecError(f"label column '{label}' is not in the data; columns: {', '.join(map(str, df.columns))}")
    values = _as_text(df[label].dropna())
    classes = sorted(values.unique())
    notes = []
    if len(classes) < 2:
        raise SpecError(f"label column '{label}' has {len(classes)} distinct value(s) ({', '.join(classes)}); "
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
    nulls = int(df[label].isna().sum())
    if nulls:
        notes.append(f"{nulls} row(s) have no label; training skips them")
    return positive, negative, notes


def _as_text(values: pd.Series) -> pd.Series:
    """Label and category values as the strings the spec stores (integral floats without '.0')."""
    if pd.api.types.is_float_dtype(values) and len(values) and np.all(np.mod(values.to_numpy(), 1) == 0):
        values = values.astype("int64")
    return values.astype(str)


def _numeric_column(name: str, values: pd.Series, nullable: bool) -> ColumnSpec:
    finite = values.dropna().astype("float64")
    integral = bool(np.all(np.mod(finite.to_numpy(), 1) == 0))
    lo, hi = float(finite.min()), float(finite.max())
    # The valid range is what training saw widened by its own span on each side (never below 0 for a
    # column that was never negative): wide enough that real drift passes validation and is judged as
    # drift, narrow enough that a unit change or a sentinel (-999, 1e9) is caught as bad data. Edit to taste.
    span = hi - lo
    low = 0.0 if lo >= 0 and lo - span < 0 else lo - span
    return ColumnSpec(name=name, kind="integer" if integral else "numeric", low=low, high=hi + span,
                      nullable=nullable)


def _column(name: str, raw: pd.Series, n_rows: int) -> ColumnSpec:
    present = raw.dropna()
    nullable = len(present) < len(raw)
    if len(present) == 0:
        raise SpecError(f"column '{name}' is entirely empty (null in all {n_rows} rows); drop it with --drop {name}")
    if present.nunique() == 1:
        raise SpecError(f"column '{name}' has one value ({present.iloc[0]!r}) in every row, so it carries no "
                        f"signal; drop it with --drop {name}")
    if pd.api.types.is_bool_dtype(present):
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
                        f"values are not numbers (e.g. {', '.join(repr(b) for b in bad)}); clean it, or drop it "
                        f"with --drop {name}")
    categories = sorted(_as_text(present).unique())
    if len(categories) > MAX_CATEGORIES and len(categories) > len(present) / 2:
        raise SpecError(f"column '{name}' has {len(categories)} distinct values in {len(present)} rows, like an "
                        f"id or free text; pass --id {name} if it identifies a row, or --drop {name}")
    return ColumnSpec(name=name, kind="categorical", categories=categories, nullable=nullable)


def infer_spec(df: pd.DataFrame, name: str, *, label: str, positive: str | None = None,
               id_column: str | None = None, slices: Sequence[str] | None = None, drop: Sequence[str] = (),
               data: str | None = None, **fields: object) -> Inferred:
    """The spec a table implies. Raises SpecError naming the column and the fix for anything unusable."""
    if df.empty:
        raise SpecError("the table has no rows")
    missing = [c for c in [*drop, *([id_column] if id_column else [])] if c not in df.columns]
    if missing:
        raise SpecError(f"column(s) {', '.join(missing)} not in the data; columns: {', '.join(map(str, df.columns))}")
    positive, negative, notes = _label_classes(df, label, positive)
    skip = {label, *drop, *([id_column] if id_column else [])}
    columns = [_column(str(c), df[c], len(df)) for c in df.columns if c not in skip]
    if not columns:
        raise SpecError("no feature columns left besides the label, id and dropped columns")
    kinds = {c.name: c for c in columns}
    if slices is None:
        slices = [c.name for c in columns if c.kind == "categorical" and 2 <= len(c.categories) <= 10]
        slices = list(slices)[:MAX_DEFAULT_SLICES]
    nullable = [c.name for c in columns if c.nullable]
    if nullable:
        notes.append(f"nullable (imputed, null share watched): {', '.join(nullable)}")
    for s in slices:
        if s not in kinds:
            raise SpecError(f"--slices: '{s}' is not a feature column")
    try:
        spec = ModelSpec.model_validate({
            "name": name, "data": data, "label": {"column": label, "positive": positive, "negative": negative},
            "id_column": id_column, "slices": list(slices), "columns": columns, **fields})
    except ValueError as exc:
        raise SpecError(str(exc)) from exc
    return Inferred(spec, notes)
