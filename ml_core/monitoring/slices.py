"""Slice regressions: a segment (``Home=rent``) whose decisions went wrong more often, while global metrics may hold.

A change confined to one segment — its label relation moved — can leave the global F1 within tolerance, because
the segment is a small share of the traffic. Each slice value's realised error rate in the window is compared with
the same version's error rate on that slice of the held-out split (the rows its test metrics came from): a one-sided
Fisher exact test that the window's rate is higher. Every value of every slice column with enough labels is one
test, so each runs at ``alpha / number of tests`` (Bonferroni): the false-alarm rate per check over all slices is at
most ``alpha`` (default 0.01, the drift checks' family-wise rate).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

# Fewer labelled rows than this in a slice and the test cannot reach a Bonferroni-corrected 0.01 unless nearly
# every decision is wrong: such a slice is skipped rather than tested.
MIN_SLICE_LABELS = 30


class SliceRegression(BaseModel):
    """One slice whose decisions are significantly worse in the window than on the held-out split."""

    column: str
    value: str
    n: int = Field(description="labelled records of the slice in the window")
    error_rate: float
    reference_n: int
    reference_error_rate: float
    p_value: float

    @property
    def name(self) -> str:
        return f"{self.column}={self.value}"


def _errors(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    wrong = (frame["predicted"].astype(int) != frame["actual"].astype(int)).astype(int)
    table = pd.DataFrame({"key": frame[column].astype(str), "wrong": wrong})
    return table.groupby("key")["wrong"].agg(["sum", "count"])


def slice_regressions(window: pd.DataFrame, reference: pd.DataFrame, slice_columns: Sequence[str], *,
                      alpha: float = 0.01, min_labels: int = MIN_SLICE_LABELS) -> list[SliceRegression]:
    """Slices whose error rate rose significantly, worst first. Both frames carry the slice columns, ``predicted``
    and ``actual`` (0/1): the window's labelled records the version decided, and its held-out rows."""
    columns = [c for c in slice_columns if c in window.columns and c in reference.columns]
    if not len(window) or not len(reference) or not columns:
        return []
    tests: list[tuple[str, str, int, int, int, int]] = []
    for column in columns:
        now, ref = _errors(window, column), _errors(reference, column)
        for value, row in now.iterrows():
            if row["count"] >= min_labels and value in ref.index and ref.loc[value, "count"] >= min_labels:
                tests.append((column, str(value), int(row["sum"]), int(row["count"]),
                              int(ref.loc[value, "sum"]), int(ref.loc[value, "count"])))
    found = []
    for column, value, k, n, k_ref, n_ref in tests:
        p = float(stats.fisher_exact([[k, n - k], [k_ref, n_ref - k_ref]], alternative="greater")[1])
        if p < alpha / len(tests):
            found.append(SliceRegression(column=column, value=value, n=n, error_rate=k / n, reference_n=n_ref,
                                         reference_error_rate=k_ref / n_ref, p_value=p))
    return sorted(found, key=lambda s: s.p_value)
