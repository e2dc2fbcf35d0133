"""Validate a frame against a schema: clear errors or a quarantine report, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ml_core.data.schema import Column, TableSchema, label_text


class DataValidationError(ValueError):
    """Bad data that cannot be used. The message names the columns and row counts."""

    def __init__(self, message: str, issues: list[ColumnIssue] | None = None):
        super().__init__(message)
        self.issues = issues or []


@dataclass(frozen=True)
class ColumnIssue:
    column: str
    problem: str  # missing_column | wrong_type | null | out_of_range | unknown_category
    rows: int
    detail: str = ""

    def describe(self) -> str:
        if self.problem == "missing_column":
            return f"column '{self.column}' is missing"
        return f"column '{self.column}': {self.rows} row(s) {self.problem.replace('_', ' ')}" + (
            f" ({self.detail})" if self.detail else ""
        )


@dataclass
class ValidationReport:
    clean: pd.DataFrame
    quarantined: pd.DataFrame
    issues: list[ColumnIssue] = field(default_factory=list)
    total_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.issues

    def summary(self) -> str:
        if self.ok:
            return f"{self.total_rows} rows, all valid"
        lines = [f"{len(self.quarantined)} of {self.total_rows} rows quarantined:"]
        lines += [f"  - {i.describe()}" for i in self.issues]
        return "\n".join(lines)

    def save(self, directory: Path, name: str) -> Path:
        """Write the quarantined rows and the issue list next to each other; returns the JSON path."""
        directory.mkdir(parents=True, exist_ok=True)
        self.quarantined.to_csv(directory / f"{name}.rows.csv", index=False)
        path = directory / f"{name}.json"
        path.write_text(json.dumps({
            "total_rows": self.total_rows,
            "quarantined_rows": len(self.quarantined),
            "issues": [i.__dict__ for i in self.issues],
        }, indent=2))
        return path


def _check_column(col: Column, raw: pd.Series, flag: Callable[..., None]) -> pd.Series:
    """Flag the column's nulls, unknown categories, non-numbers and out-of-range values; returns it coerced."""
    nulls = raw.isna().to_numpy()
    if not col.nullable:
        flag(col.name, "null", nulls)
    if col.kind == "categorical":
        values = raw.astype("string")
        unknown = (~values.isin(col.categories)).to_numpy() & ~nulls
        flag(col.name, "unknown_category", unknown,
             f"allowed: {', '.join(col.categories[:6])}{'…' if len(col.categories) > 6 else ''}")
        return values.astype(object)
    numeric = pd.to_numeric(raw, errors="coerce")
    wrong = numeric.isna().to_numpy() & ~nulls
    flag(col.name, "wrong_type", wrong, "not a number")
    vals = numeric.to_numpy(dtype="float64")
    with np.errstate(invalid="ignore"):
        oor = ((vals < col.low) | (vals > col.high)) if col.low is not None else np.zeros_like(nulls)
    flag(col.name, "out_of_range", np.asarray(oor) & ~np.isnan(vals), f"allowed {col.low:g}..{col.high:g}")
    return numeric


def validate_frame(df: pd.DataFrame, schema: TableSchema, *, require_label: bool = False,
                   quarantine: bool = False) -> ValidationReport:
    """Check columns, types, nulls, ranges and categories.

    With ``quarantine=False`` any bad row raises :class:`DataValidationError`; with ``quarantine=True``
    bad rows are split off into the report and the clean rows are returned, coerced to schema types.
    A missing column always raises: no row can be saved from it.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError(f"expected a table (pandas DataFrame), got {type(df).__name__}")
    required = schema.feature_names + ([schema.label] if require_label else [])
    missing = [c for c in required if c not in df.columns]
    if missing:
        missing_issues = [ColumnIssue(c, "missing_column", len(df)) for c in missing]
        raise DataValidationError(
            f"{len(missing)} required column(s) missing: {', '.join(missing)}. "
            f"Expected columns: {', '.join(required)}", missing_issues)

    out = df.copy()
    bad = np.zeros(len(out), dtype=bool)
    issues: list[ColumnIssue] = []

    def flag(col: str, problem: str, mask: np.ndarray, detail: str = "") -> None:
        nonlocal bad
        n = int(mask.sum())
        if n:
            issues.append(ColumnIssue(col, problem, n, detail))
            bad |= mask

    for col in schema.columns:
        out[col.name] = _check_column(col, out[col.name], flag)
    if require_label:
        labels = label_text(out[schema.label])
        flag(schema.label, "null", labels.isna().to_numpy())
        if schema.label_values is not None:
            flag(schema.label, "unknown_category", (~labels.isin(schema.label_values)).to_numpy() & labels.notna()
                 .to_numpy(), f"allowed: {', '.join(schema.label_values)}")

    report = ValidationReport(clean=out.loc[~bad].reset_index(drop=True),
                              quarantined=df.loc[bad].reset_index(drop=True),
                              issues=issues, total_rows=len(df))
    if issues and not quarantine:
        raise DataValidationError(
            f"{int(bad.sum())} of {len(df)} rows are invalid:\n" + "\n".join(f"  - {i.describe()}" for i in issues)
            + "\nFix the data, or pass quarantine=True (CLI: --quarantine) to set the bad rows aside.", issues)
    for col in schema.columns:
        if col.kind == "integer" and len(report.clean):
            rounded = report.clean[col.name].round()
            # A nullable integer column with gaps stays float (NaN is the gap); the rest are int64.
            report.clean[col.name] = rounded if rounded.isna().any() else rounded.astype("int64")
    return report
