"""A fast data/prediction drift screen whose per-column verdicts equal Evidently 0.7's DataDriftPreset defaults.

Evidently (``evidently/legacy/calculations/stattests/registry.py::_get_default_stattest``) picks one test
per column from the column type, the reference row count and the number of distinct values
(reference and current together), after dropping NaN and +-inf from each side:

=====================  =========================  ======================================================
reference rows         numerical                  categorical
=====================  =========================  ======================================================
<= 1000                <= 2 values: Z-test        <= 2 values: Z-test (p < 0.05)
                       3..5 values: chi-square    > 2 values: chi-square (p < 0.05)
                       > 5 values: K-S (p <= 0.05)
> 1000                 <= 5 values: Jensen-Shannon  Jensen-Shannon distance (>= 0.1)
                       > 5 values: Wasserstein distance normed by the reference std (>= 0.1)
=====================  =========================  ======================================================

Column types follow ``evidently.core.datasets.infer_column_type`` applied to the *current* frame, as
Evidently does: float -> numerical, int with <= 10 distinct values -> categorical, other ints ->
numerical, strings/bool/category -> categorical (strings with more distinct values than half the rows are
text, which this screen skips). The dataset verdict is Evidently's: share of drifted columns >= 0.5.

Speed comes from a :class:`ReferenceProfile` built once (sorted finite values, std, value counts) and a
current side made of one ``np.sort`` (or ``value_counts``) per column; the Wasserstein distance is the
same integral scipy computes, with the merged-CDF positions taken from ``searchsorted`` on the sorted
reference rather than two searches over the merged values.

Evidently's default tests are very sensitive on small or high-cardinality samples (a p-value test per
column means a 5% false alarm rate per column), so every drifted column also carries a
``confirm_pvalue`` (the test's own p-value, or a K-S / chi-square homogeneity p-value for the distance
tests) that the triage layer uses to require statistical significance across all columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats
from scipy.spatial import distance

from ml_core.monitoring.drift_stats import (
    cdf_gaps,
    chi_square,
    homogeneity_pvalue,
    ks_asymptotic_pvalue,
    wasserstein_from_gaps,
    z_test,
)

ColumnKind = Literal["numerical", "categorical"]
TestName = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon"]

SMALL_REFERENCE_ROWS = 1000  # Evidently: reference_data.shape[0] <= 1000 -> p-value tests
INTEGER_CARDINALITY_LIMIT = 10  # evidently.core.datasets.INTEGER_CARDINALITY_LIMIT
DEFAULT_THRESHOLDS: dict[str, float] = {"ks": 0.05, "chisquare": 0.05, "z": 0.05, "wasserstein": 0.1,
                                        "jensenshannon": 0.1}
P_VALUE_TESTS = frozenset({"ks", "chisquare", "z"})
# Evidently's display names, as they appear in its report metric ids.
EVIDENTLY_DISPLAY_NAMES: dict[str, str] = {
    "K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon",
}


class FeatureDrift(BaseModel):
    """One column's drift verdict."""

    name: str
    kind: ColumnKind
    test: TestName
    statistic: float = Field(description="p-value for ks/chisquare/z, distance for wasserstein/jensenshannon")
    threshold: float
    drifted: bool = Field(description="Evidently's default verdict for this column")
    n_reference: int
    n_current: int
    confirm_pvalue: float | None = Field(
        default=None, description="significance of the shift (computed for drifted columns only)")


class DriftScreenResult(BaseModel):
    """Per-column verdicts plus Evidently's dataset-level verdict."""

    features: list[FeatureDrift]
    n_drifted: int
    drifted_share: float
    drift_share: float = Field(description="dataset drift when drifted_share >= drift_share (Evidently: 0.5)")
    dataset_drifted: bool
    skipped: list[str] = Field(default_factory=list, description="columns with no default test (text, dates)")

    def verdicts(self) -> dict[str, bool]:
        return {f.name: f.drifted for f in self.features}

    def drifted_features(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]


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


def _finite(column: pd.Series) -> np.ndarray:
    arr = column.to_numpy(dtype=float, na_value=np.nan)
    return arr[np.isfinite(arr)]


def _sorted_counts(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
            finite = _finite(s)
            std = float(np.std(finite)) if len(finite) else 0.0
            srt = np.sort(finite)
            values, counts = _sorted_counts(srt)
            out[name] = ColumnProfile(name, True, len(srt), srt, std, values, counts, kind)
        else:
            vc = s.value_counts(dropna=True, sort=False)
            out[name] = ColumnProfile(name, False, int(vc.sum()), None, 0.0, vc.index.to_numpy(),
                                      vc.to_numpy(dtype=np.int64), kind)
    return ReferenceProfile(out)


def _aligned_counts(ref: ColumnProfile, cur_values: np.ndarray, cur_counts: np.ndarray,
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


def _screen_column(ref: ColumnProfile, current: pd.Series) -> FeatureDrift | None:
    kind = ref.kind or infer_column_kind(current)
    if kind is None:
        return None
    numeric = ref.numeric and pd.api.types.is_numeric_dtype(current) and not pd.api.types.is_bool_dtype(current)
    if numeric:
        cur = np.sort(_finite(current))
        n_cur = len(cur)
        cur_values = cur_counts = None
        if kind == "categorical" or ref.nunique <= 5:
            cur_values, cur_counts = _sorted_counts(cur)
    else:
        vc = current.value_counts(dropna=True, sort=False)
        cur_values, cur_counts, n_cur, cur = vc.index.to_numpy(), vc.to_numpy(dtype=np.int64), int(vc.sum()), None
    if ref.n == 0 or n_cur == 0:
        raise ValueError(f"column '{ref.name}' has no finite values in the {'reference' if ref.n == 0 else 'current'}"
                         " data; drift cannot be computed")

    keys = r = c = None
    if cur_values is not None:
        keys, r, c = _aligned_counts(ref, cur_values, cur_counts, numeric)
        n_values = len(keys)
    else:
        n_values = ref.nunique + 6  # reference alone has > 5 values: the exact count is not needed
    small = ref.n <= SMALL_REFERENCE_ROWS
    if kind == "numerical" and n_values > 5:
        test: TestName = "ks" if small else "wasserstein"
    elif small:
        test = "chisquare" if n_values > 2 else "z"
    else:
        test = "jensenshannon"

    threshold = DEFAULT_THRESHOLDS[test]
    if test == "ks":
        statistic = float(stats.ks_2samp(ref.sorted_values, cur)[1])
        drifted = statistic <= threshold
    elif test == "wasserstein":
        gaps, deltas = cdf_gaps(ref.sorted_values, cur)
        statistic = wasserstein_from_gaps(gaps, deltas, ref.std)
        drifted = statistic >= threshold
    elif test == "chisquare":
        statistic = chi_square(r, c)
        drifted = statistic < threshold
    elif test == "z":
        statistic = z_test(keys, r, c)
        drifted = statistic < threshold
    else:
        statistic = float(distance.jensenshannon(r / ref.n, c / n_cur))
        drifted = statistic >= threshold

    confirm = None
    if drifted:
        if test in P_VALUE_TESTS:
            confirm = statistic
        elif test == "wasserstein":
            confirm = ks_asymptotic_pvalue(gaps, deltas, ref.n, n_cur)
        else:
            confirm = homogeneity_pvalue(r, c)
    return FeatureDrift(name=ref.name, kind=kind, test=test, statistic=statistic, threshold=threshold,
                        drifted=bool(drifted), n_reference=ref.n, n_current=n_cur, confirm_pvalue=confirm)


def screen(profile: ReferenceProfile, current: pd.DataFrame, *, drift_share: float = 0.5,
           n_jobs: int = 1) -> DriftScreenResult:
    """Test every profiled column of ``current`` against the reference, with Evidently's default tests.

    ``n_jobs`` > 1 screens columns on threads (numpy's sort and search release the GIL).
    """
    missing = [c for c in profile.columns if c not in current.columns]
    if missing:
        raise ValueError(f"current data lacks columns present in the reference: {missing}")
    cols = list(profile.columns.values())
    if n_jobs > 1:
        with ThreadPoolExecutor(n_jobs) as pool:
            results = list(pool.map(lambda p: _screen_column(p, current[p.name]), cols))
    else:
        results = [_screen_column(p, current[p.name]) for p in cols]
    features = [r for r in results if r is not None]
    skipped = [p.name for p, r in zip(cols, results, strict=True) if r is None]
    n_drifted = sum(f.drifted for f in features)
    share = n_drifted / len(features) if features else 0.0
    return DriftScreenResult(features=features, n_drifted=n_drifted, drifted_share=share, drift_share=drift_share,
                             dataset_drifted=bool(features) and share >= drift_share, skipped=skipped)


def build_score_profile(scores: np.ndarray | pd.Series, name: str = "score") -> ReferenceProfile:
    """A profile of model scores for prediction drift (scores are numerical)."""
    return build_profile(pd.DataFrame({name: np.asarray(scores, dtype=float)}), kinds={name: "numerical"})


def screen_scores(profile: ReferenceProfile, scores: np.ndarray | pd.Series) -> FeatureDrift:
    """Prediction drift: the score column tested like any numerical feature."""
    (name, col), = profile.columns.items()
    result = _screen_column(col, pd.Series(np.asarray(scores, dtype=float), name=name))
    assert result is not None
    return result
