"""When a window is too small for a sound test: the rules, and the "not enough data" the check says instead.

A verdict on too little data is one of two things, and neither is evidence:

- **noise**: the test's large-sample approximation does not hold, so its p-value is not what it claims and
  the false-alarm rate is no longer the one the check states (a chi-square on a 50-row window of a
  51-category column: one row in a category the reference holds 0.5 % of gives a huge statistic);
- **empty**: no sample of that size, however extreme, could reach the significance level the check
  confirms drift at, so the test can only ever answer "no drift" -- which reads as "looked, nothing there"
  when it means "could not look".

Each rule below is one of those two arguments. Both depend only on the reference and the window's size,
never on the window's values: a rule that read the values could let the very shift under test decide
whether it is tested. A column that fails one is reported as an :class:`InsufficientColumn` (name and the
reason, with about how many rows would do) and raises no finding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

from ml_core.monitoring.drift_stats import chi_square, homogeneity_pvalue, two_proportion_pvalue, z_test

CheckName = Literal["feature_drift", "prediction_drift", "estimate", "prior_shift", "performance"]

# Cochran (1954), "Some methods for strengthening the common chi-square tests": Pearson's statistic is close
# enough to its chi-square limit when no expected count is below 1 and at most 20 % of them are below 5. For
# two cells (the Z-test, a positive rate) that is the usual n*p >= 5 and n*(1-p) >= 5 of the normal
# approximation to the binomial.
COCHRAN_MIN_EXPECTED = 5.0
COCHRAN_MAX_SHARE_BELOW = 0.2
COCHRAN_FLOOR = 1.0
COUNT_TESTS = frozenset({"chisquare", "z", "jensenshannon"})  # tested (or confirmed) on category counts
TEST_LABELS = {"ks": "K-S", "wasserstein": "K-S (confirming the Wasserstein distance)", "chisquare": "chi-square",
               "z": "Z-test", "jensenshannon": "chi-square (confirming the Jensen-Shannon distance)"}
MAX_ROWS_SEARCHED = 1_000_000


class InsufficientColumn(BaseModel):
    """A column (or a score, a rate, an estimate) the window is too small to test soundly."""

    name: str
    check: CheckName = "feature_drift"
    n: int = Field(description="rows (or labels) the window had for this check")
    reason: str


def cochran_shortfall(reference_counts: np.ndarray, m: int, test: str = "chisquare") -> str | None:
    """Why ``m`` rows break Cochran's rule for a count test over the reference's categories, or None.

    Expected counts are the window's under the reference distribution (m times each reference share). A
    one-valued reference has nothing to approximate: any other value in the window is itself the evidence.
    """
    r = np.asarray(reference_counts, dtype=float)
    q = r[r > 0] / r.sum()
    if len(q) < 2:
        return None
    expected = m * q
    below5, below1 = int((expected < COCHRAN_MIN_EXPECTED).sum()), int((expected < COCHRAN_FLOOR).sum())
    if below1 == 0 and below5 <= COCHRAN_MAX_SHARE_BELOW * len(q):
        return None
    name = "the Z-test" if test == "z" else "a chi-square test"
    return (f"at {m} rows {below5} of {len(q)} categories expect fewer than 5 rows"
            + (f" ({below1} fewer than 1)" if below1 else "")
            + f"; {name} needs >= 5 in 80 % of them and >= 1 in all (Cochran's rule): about {rows_for_cochran(q)} rows")


def rows_for_cochran(shares: np.ndarray) -> int:
    """The fewest rows at which categories with these reference shares meet Cochran's rule."""
    qs = np.sort(np.asarray(shares, dtype=float))[::-1]
    must_reach_5 = len(qs) - math.floor(COCHRAN_MAX_SHARE_BELOW * len(qs))
    return int(max(math.ceil(COCHRAN_MIN_EXPECTED / qs[must_reach_5 - 1]), math.ceil(COCHRAN_FLOOR / qs[-1])))


def count_best_pvalue(test: str, keys: np.ndarray, reference_counts: np.ndarray, m: int) -> float:
    """The smallest p-value ``test`` can give on any window of ``m`` rows over the reference's categories.

    Pearson's statistic is convex in the counts (and the Z statistic monotone in the first share), so its
    maximum over all windows of ``m`` rows lies at a vertex: every row in one category.
    """
    seen = np.asarray(reference_counts) > 0
    keys, r = np.asarray(keys)[seen], np.asarray(reference_counts)[seen]
    best = 1.0
    for k in range(len(r)):
        c = np.zeros_like(r)
        c[k] = m
        p = z_test(keys, r, c) if test == "z" else chi_square(r, c) if test == "chisquare" else homogeneity_pvalue(r, c)
        best = min(best, p)
    return best


@lru_cache(maxsize=4096)
def distribution_best_pvalue(test: str, n_reference: int, m: int) -> float:
    """The smallest K-S p-value for ``m`` rows against ``n_reference``: the two samples fully apart (D = 1).

    ``ks`` is Evidently's own (scipy's ``ks_2samp`` in its default mode, exact here: p = 2 / C(n + m, m)), so
    with a reference of up to 1000 rows one row can never reach 0.01 / 19 and two can. ``wasserstein`` is
    confirmed by the K-S distribution of ``en = n m / (n + m)`` rows (``drift_stats.ks_asymptotic_pvalue``),
    exact for one sample against a continuous reference and conservative with ties; its tail at D = 1 is 0,
    so this rule never binds there and the K-S confirmation stays sound however small the window: few rows
    cost power (only a gross shift is confirmed), not the false-alarm rate.
    """
    if test == "ks":
        return float(stats.ks_2samp(np.zeros(n_reference), np.ones(m)).pvalue)
    return float(stats.kstwo.sf(1.0, round(n_reference * m / (n_reference + m))))


def rows_to_reach(best_pvalue: Callable[[int], float], level: float, start: int) -> int | None:
    """The fewest rows (> ``start``) at which ``best_pvalue(rows) < level``; None past a million.

    A most extreme sample only grows more extreme with more rows, so the search doubles, then bisects.
    """
    low, high = start, max(start * 2, start + 1)
    while best_pvalue(high) >= level:
        low, high = high, high * 2
        if high > MAX_ROWS_SEARCHED:
            return None
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if best_pvalue(mid) >= level else (low, mid)
    return high


def unreachable(label: str, m: int, best: float, level: float, needed: int | None) -> str:
    more = f"about {needed} rows" if needed else "more rows than a window holds"
    return (f"no window of {m} rows could reach p < {level:.2g} (the check's significance level, Bonferroni over "
            f"the columns checked): the smallest {label} p-value possible is {best:.2g}; {more}")


def column_shortfall(test: str, m: int, level: float, *, n_reference: int, keys: np.ndarray | None = None,
                     reference_counts: np.ndarray | None = None) -> str | None:
    """Why ``m`` rows are too few for ``test`` on one column at per-column significance ``level``, or None."""
    label = TEST_LABELS.get(test, test)
    if test in COUNT_TESTS:
        assert keys is not None and reference_counts is not None
        why = cochran_shortfall(reference_counts, m, test)
        if why:
            return why
        if (np.asarray(reference_counts) > 0).sum() < 2:
            return None

        def best(rows: int) -> float:
            return count_best_pvalue(test, keys, reference_counts, rows)
    else:
        def best(rows: int) -> float:
            return distribution_best_pvalue(test, n_reference, rows)
    p = best(m)
    return None if p < level else unreachable(label, m, p, level, rows_to_reach(best, level, m))


def proportion_shortfall(m: int, reference_rate: float, n_reference: int, alpha: float) -> str | None:
    """Why ``m`` rows are too few for the two-proportion z-test of a rate against ``reference_rate``, or None:
    Cochran for two cells (expected positives and negatives >= 5), then reachability at ``alpha``."""
    expected = (m * reference_rate, m * (1 - reference_rate))
    if min(expected) < COCHRAN_MIN_EXPECTED:
        rare = min(reference_rate, 1 - reference_rate)
        needed = math.ceil(COCHRAN_MIN_EXPECTED / rare) if rare > 0 else None
        return (f"at {m} rows about {min(expected):.1f} are expected on the rarer side (reference rate "
                f"{reference_rate:.3f}); the z-test needs >= 5 on each side"
                + (f": about {needed} rows" if needed else ""))
    k_ref = reference_rate * n_reference

    def best(rows: int) -> float:
        return min(two_proportion_pvalue(0, rows, k_ref, n_reference),
                   two_proportion_pvalue(rows, rows, k_ref, n_reference))
    p = best(m)
    return None if p < alpha else unreachable("z-test", m, p, alpha, rows_to_reach(best, alpha, m))


def not_enough_line(items: Sequence[InsufficientColumn], max_names: int = 4) -> str:
    """One line for the summary: the insufficient columns grouped by reason."""
    groups: dict[str, list[str]] = {}
    for item in items:
        groups.setdefault(item.reason, []).append(item.name)
    parts = []
    for reason, names in groups.items():
        shown = ", ".join(names) if len(names) <= max_names else (
            f"{', '.join(names[:max_names - 1])} and {len(names) - max_names + 1} more")
        parts.append(f"{shown}: {reason}")
    return "not enough data for " + "; for ".join(parts)


def below_floor(features: Sequence[str], n: int, floor: int, *, with_scores: bool,
                metric: str) -> list[InsufficientColumn]:
    """Every drift-type check of a window of ``n`` rows under the spec's row floor (``drift.min_rows``), by name;
    empty at or above the floor (and for an empty window, which is no traffic rather than too little).

    The floor is the user's setting; above it the per-test rules decide column by column.
    """
    if not 0 < n < floor:
        return []
    names: list[tuple[str, CheckName]] = [(c, "feature_drift") for c in features]
    if with_scores:
        names += [("score", "prediction_drift"), (f"estimated_{metric}", "estimate"),
                  ("predicted_positive_rate", "prior_shift")]
    reason = f"{n} rows in the window; drift is tested from {floor} rows (the spec's drift.min_rows)"
    return [InsufficientColumn(name=name, check=check, n=n, reason=reason) for name, check in names]


def estimate_shortfall(n: int, min_rows: int, metric: str) -> InsufficientColumn | None:
    """The label-free estimate below its row floor: its drop is judged against a bootstrap standard error,
    which on a few dozen scores (a handful of predicted positives) is itself too noisy to trust."""
    if n >= min_rows:
        return None
    return InsufficientColumn(name=f"estimated_{metric}", check="estimate", n=n,
                              reason=f"{n} scored rows; the label-free estimate is judged from {min_rows} "
                                     "(min_rows_estimate)")


def labels_shortfall(n_labelled: int, min_labels: int, metric: str) -> InsufficientColumn | None:
    """Some labels arrived, but fewer than realised performance is judged from (F1 on a few dozen labels swings
    by more than the drop the check looks for)."""
    if not 0 < n_labelled < min_labels:
        return None
    return InsufficientColumn(name=metric, check="performance", n=n_labelled,
                              reason=f"{n_labelled} labels in the window; realised {metric} is judged from "
                                     f"{min_labels} (min_labels)")
