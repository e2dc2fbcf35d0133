"""What moved, in numbers a person reads: a drifted feature's statistics on the reference vs the window, and the
slices where the move concentrates.

The drift screen says *that* a column moved (a test statistic and its p-value); a post-mortem must say *how*:
"mean total_day_minutes 180 -> 225 (+25 %), mostly in state=CA". Computed only for the few confirmed culprits of
a window with findings, so a quiet scheduled tick pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

# Categories listed per culprit: the ones whose share moved most. Five covers what a reader compares at a glance.
TOP_CATEGORIES = 5
# A slice needs this many window rows for its own mean to say anything (the standard error of a mean of 30 rows
# is under a fifth of the column's spread); smaller slices are not ranked.
MIN_SLICE_ROWS = 30
SLICES_SHOWN = 3


class CategoryShare(BaseModel):
    value: str
    reference: float = Field(description="share of the reference rows")
    window: float = Field(description="share of the window's rows")


class SliceShift(BaseModel):
    """How far one slice moved the culprit, in units of the reference's standard deviation (or share points)."""

    column: str
    value: str
    n: int = Field(description="window rows of the slice")
    moved: float = Field(description="numeric: (window mean - reference mean) / reference std; categorical: total "
                                     "variation distance of the category shares")


class FeatureShift(BaseModel):
    """One culprit's statistics, reference vs window."""

    feature: str
    kind: str = Field(description="numeric or categorical")
    n_reference: int
    n_window: int
    reference: dict[str, float] = Field(default_factory=dict, description="numeric: mean, p50, p90")
    window: dict[str, float] = Field(default_factory=dict)
    categories: list[CategoryShare] = Field(default_factory=list, description="categorical: the most moved shares")
    slices: list[SliceShift] = Field(default_factory=list, description="where the move concentrates, most first")


def _numeric_stats(values: pd.Series) -> dict[str, float]:
    v = pd.to_numeric(values, errors="coerce").dropna()
    if not len(v):
        return {}
    return {"mean": float(v.mean()), "p50": float(v.quantile(0.5)), "p90": float(v.quantile(0.9))}


def _shares(values: pd.Series) -> pd.Series:
    return values.dropna().astype(str).value_counts(normalize=True)


def _moved_categories(ref: pd.Series, win: pd.Series) -> list[CategoryShare]:
    a, b = _shares(ref), _shares(win)
    keys = sorted(set(a.index) | set(b.index), key=lambda k: (-abs(b.get(k, 0.0) - a.get(k, 0.0)), k))
    return [CategoryShare(value=k, reference=float(a.get(k, 0.0)), window=float(b.get(k, 0.0)))
            for k in keys[:TOP_CATEGORIES]]


def _slice_moves(reference: pd.DataFrame, window: pd.DataFrame, feature: str, numeric: bool,
                 slice_columns: Sequence[str]) -> list[SliceShift]:
    out: list[SliceShift] = []
    ref_values = pd.to_numeric(reference[feature], errors="coerce") if numeric else reference[feature]
    std = float(ref_values.std()) if numeric else 0.0
    if numeric and not std > 0:
        return []
    for column in (c for c in slice_columns if c != feature and c in window.columns and c in reference.columns):
        for value, rows in window.groupby(window[column].astype(str)):
            if len(rows) < MIN_SLICE_ROWS:
                continue
            ref_rows = reference[reference[column].astype(str) == value]
            if numeric:
                base = pd.to_numeric(ref_rows[feature], errors="coerce").mean() if len(ref_rows) else ref_values.mean()
                moved = (pd.to_numeric(rows[feature], errors="coerce").mean() - base) / std
            else:
                a, b = _shares(ref_rows[feature] if len(ref_rows) else reference[feature]), _shares(rows[feature])
                moved = 0.5 * float(sum(abs(b.get(k, 0.0) - a.get(k, 0.0)) for k in set(a.index) | set(b.index)))
            if np.isfinite(moved):
                out.append(SliceShift(column=column, value=str(value), n=len(rows), moved=float(moved)))
    return sorted(out, key=lambda s: -abs(s.moved))[:SLICES_SHOWN]


def feature_shifts(reference: pd.DataFrame, window: pd.DataFrame, features: Sequence[str],
                   categorical: Sequence[str], slice_columns: Sequence[str] = ()) -> list[FeatureShift]:
    """Each of ``features`` present in both frames: its moved statistics and the slices it moved most in."""
    out = []
    for name in (f for f in features if f in reference.columns and f in window.columns):
        numeric = name not in set(categorical)
        shift = FeatureShift(feature=name, kind="numeric" if numeric else "categorical",
                             n_reference=int(reference[name].notna().sum()), n_window=int(window[name].notna().sum()),
                             slices=_slice_moves(reference, window, name, numeric, slice_columns))
        if numeric:
            shift.reference, shift.window = _numeric_stats(reference[name]), _numeric_stats(window[name])
        else:
            shift.categories = _moved_categories(reference[name], window[name])
        out.append(shift)
    return out
