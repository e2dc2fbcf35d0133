"""The reference side of the drift screen, computed once per reference (sorted finite values, std, value counts),
and Evidently 0.7's typing of a column from its values.

Apart from ``drift_screen`` so that module reads as the choice of test per column and its verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["numerical", "categorical"]
INTEGER_CARDINALITY_LIMIT = 10  # evidently.core.datasets.INTEGER_CARDINALITY_LIMIT


def infer_column_kind(column: pd.Series) -> ColumnKind | None:
    """Evidently 0.7's ``infer_column_type`` reduced to the kinds the drift preset tests (None: skipped)."""
    dtype = column.dtype.name
    if dtype.startswith("float"):
        return "numerical"
    if dtype.startswith("int") or dtype.startswith("uint"):
        return "categorical" if column.nunique() <= INTEGER_CARDINALITY_LIMIT else "numerical"
    if dtype in ("string", "str", "object"):
        values = column.dropna()
        if values.empty or not (isinstance(values.iloc[0], str) and isinstance(values.iloc[-1], str)):
            return None
        return None if column.nunique() > column.count() * 0.5 else "categorical"
    if dtype in ("bool", "category"):
        return "categorical"
    return None


def finite_values(column: pd.Series) -> np.ndarray:
    arr = column.to_numpy(dtype=float, na_value=np.nan)
    return arr[np.isfinite(arr)]


def sorted_finite(column: pd.Series) -> np.ndarray:
    """``np.sort(finite_values(column))`` in one pass fewer: sort first (NaN sorts last, after +inf), then keep
    the slice between the infinities (a view: no mask, no second copy)."""
    arr = np.sort(column.to_numpy(dtype=float, na_value=np.nan))
    return arr[np.searchsorted(arr, -np.inf, side="right"):np.searchsorted(arr, np.inf, side="left")]


def sorted_counts(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not len(sorted_values):
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    counts = np.diff(np.r_[starts, len(sorted_values)])
    return sorted_values[starts], counts


@dataclass(frozen=True)
class ColumnProfile:
    """The reference side of one column, computed once."""

    name: str
    numeric: bool  # numeric dtype: sorted values kept, usable as either kind
    n: int  # rows after dropping NaN/inf, as Evidently counts them
    sorted_values: np.ndarray | None
    std: float
    values: np.ndarray  # distinct values
    counts: np.ndarray  # their counts
    kind: ColumnKind | None  # fixed kind, or None to infer from the current frame like Evidently

    @property
    def nunique(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class ReferenceProfile:
    """Everything the screen needs from the reference frame; reuse it across scheduled checks."""

    columns: dict[str, ColumnProfile]

    @property
    def n_rows(self) -> int:
        return max((c.n for c in self.columns.values()), default=0)


def build_profile(reference: pd.DataFrame, columns: Iterable[str] | None = None,
                  kinds: Mapping[str, ColumnKind] | None = None) -> ReferenceProfile:
    """Precompute sorted arrays, std and value counts of the reference frame.

    ``kinds`` fixes column kinds (for example from the table schema); columns not in it are typed from
    the current frame at check time, exactly as Evidently types them.
    """
    kinds = dict(kinds or {})
    names = list(columns) if columns is not None else list(reference.columns)
    out: dict[str, ColumnProfile] = {}
    for name in names:
        s = reference[name]
        kind = kinds.get(name)
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            finite = finite_values(s)
            std = float(np.std(finite)) if len(finite) else 0.0
            srt = np.sort(finite)
            values, counts = sorted_counts(srt)
            out[name] = ColumnProfile(name, True, len(srt), srt, std, values, counts, kind)
        else:
            vc = s.value_counts(dropna=True, sort=False)
            out[name] = ColumnProfile(name, False, int(vc.sum()), None, 0.0, vc.index.to_numpy(),
                                      vc.to_numpy(dtype=np.int64), kind)
    return ReferenceProfile(out)


def aligned_counts(ref: ColumnProfile, cur_values: np.ndarray, cur_counts: np.ndarray,
                    numeric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference and current counts over the union of distinct values."""
    if numeric:
        keys = np.union1d(ref.values, cur_values)
        r = np.zeros(len(keys), dtype=np.int64)
        c = np.zeros(len(keys), dtype=np.int64)
        r[np.searchsorted(keys, ref.values)] = ref.counts
        c[np.searchsorted(keys, cur_values)] = cur_counts
        return keys, r, c
    keys = pd.Index(ref.values).union(pd.Index(cur_values), sort=False)
    r = pd.Series(ref.counts, index=ref.values).reindex(keys, fill_value=0).to_numpy()
    c = pd.Series(cur_counts, index=cur_values).reindex(keys, fill_value=0).to_numpy()
    return keys.to_numpy(), r, c
