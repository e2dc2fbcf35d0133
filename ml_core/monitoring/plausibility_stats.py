"""The numbers behind the plausibility checks: one-sided tail bounds on shares, and near-deterministic relations.

Every test here compares a count in the window with a share learned from the reference. The reference share is
itself an estimate, so each test spends half of its false-alarm budget ``a`` on bounding that share from above
(Clopper-Pearson, or the exact law of a sample's range) and the other half on the window's binomial tail: a
window drawn from the reference's distribution passes with probability at least ``1 - a``.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

RELATION_TOLERANCE = 0.01  # |y - fit| within 1 % of y's reference std: the pair explains >= 99.99 % of y's variance
RELATION_HELD_SHARE = 0.99  # ... on at least 99 % of the reference rows
RELATION_MIN_ROWS = 100  # a 99 % share of fewer rows would rest on a single row
RELATION_MAX_MODE_SHARE = 0.5  # a column mostly at one value "relates" to anything through that value: skip it
# A row breaks a relation only when the value and the one its partner implies differ by a factor of 2 or more
# (or have opposite signs, or one is zero). Unit changes (x10, x60, x100, x1000, cents/dollars), zeroed, stale
# or swapped feeds all land far past a factor 2; a modest factor could be the world (a tariff change moves the
# charge per minute) or a drift the simulator applies to one column alone, and is left to the drift detector.
BREAK_FACTOR = 2.0


def upper_share(count: int | np.ndarray, n: int, a: float) -> float | np.ndarray:
    """One-sided Clopper-Pearson upper bound of a share seen ``count`` times in ``n``: exceeded with prob. <= a."""
    count = np.asarray(count, dtype=float)
    bound = stats.beta.ppf(1 - a, count + 1, np.maximum(n - count, 1e-9))
    out = np.where(count >= n, 1.0, bound)
    return float(out) if out.ndim == 0 else out


def tail_pvalue(k: int, n: int, p: float | np.ndarray) -> float | np.ndarray:
    """P(X >= k) for X ~ Binomial(n, p): the one-sided p-value of ``k`` bad rows in ``n``."""
    out = stats.binom.sf(k - 1, n, p)
    return float(out) if np.ndim(out) == 0 else out


def outside_range_share(n_ref: int, a: float) -> float:
    """An upper bound, exceeded with probability <= a, of the mass outside the range of ``n_ref`` reference values.

    For continuous values the mass below the minimum plus above the maximum of n draws is Beta(2, n - 1)
    (its mean, 2/(n+1), is the chance that one new value falls outside); ties only shrink it.
    """
    return float(stats.beta.ppf(1 - a, 2, max(n_ref - 1, 1)))


def max_count_pvalue(k: int, n: int, ref_counts: np.ndarray, n_ref: int, a: float) -> float:
    """P(some single value takes >= k of n window rows), for rows drawn from the reference's distribution.

    A union bound over values. A value the reference saw, at the upper bound of its share p: P(Bin(n, p) >= k).
    The values it never saw, whatever their number: a value of probability p goes unseen in n_ref draws with
    probability (1-p)^n_ref, and the probabilities sum to at most 1, so together they contribute at most
    sup_p (1-p)^n_ref · P(Bin(n, p) >= k) / p. The statistic ignores which value piles up, so a shift or a
    rescaling, which only renames values, leaves its law unchanged.
    """
    counts, multiplicity = np.unique(ref_counts, return_counts=True)
    seen = float(np.dot(multiplicity, tail_pvalue(k, n, upper_share(counts, n_ref, a))))
    p = np.logspace(-7, 0, 400)[:-1]
    unseen = float(np.max(np.exp(n_ref * np.log1p(-p)) * tail_pvalue(k, n, p) / p))
    return min(1.0, seen + unseen)


def fit_relation(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float] | None:
    """``y ≈ slope·x + intercept`` when it holds within RELATION_TOLERANCE·std(y) on RELATION_HELD_SHARE of rows.

    Returns (slope, intercept, tolerance, held share) or None. The line is fitted by least squares, then refitted
    on the rows within tolerance so the few rows that break it do not bend it.
    """
    if len(x) < RELATION_MIN_ROWS or np.std(x) == 0 or np.std(y) == 0:
        return None
    tol = RELATION_TOLERANCE * float(np.std(y))
    slope, intercept = np.polyfit(x, y, 1)
    inside = np.abs(y - slope * x - intercept) <= tol
    if inside.mean() < 0.5:
        return None
    slope, intercept = np.polyfit(x[inside], y[inside], 1)
    held = float((np.abs(y - slope * x - intercept) <= tol).mean())
    if held < RELATION_HELD_SHARE or slope == 0:
        return None
    return float(slope), float(intercept), tol, held


def breaks(x: np.ndarray, y: np.ndarray, slope: float, intercept: float, tol: float) -> np.ndarray:
    """Rows that break ``y ≈ slope·x + intercept``: outside the tolerance *and* off by BREAK_FACTOR or more."""
    implied = slope * x + intercept
    big, small = np.maximum(np.abs(y), np.abs(implied)), np.minimum(np.abs(y), np.abs(implied))
    off = (small * BREAK_FACTOR <= big) | (np.sign(y) != np.sign(implied))
    return (np.abs(y - implied) > tol) & off
