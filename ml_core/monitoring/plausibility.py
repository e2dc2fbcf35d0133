"""Plausibility: values a working feed cannot produce, learned once from the reference.

Drift is the world changing; these are the data breaking, so they are a data-quality problem (fix the feed), and
a retrain on them is refused. Four checks per window, on the numeric columns:

- ``stuck_constant``: one value takes the whole window, or, in a column where no value is common (the
  reference's most common value holds < 2 % of rows: a measurement), a share of rows it never took. A column
  where values repeat (a count, a term) is only judged stuck when the whole window is one value, since a
  population can move towards one of its common values.
- ``zero_jump``: the share of exact zeros rose above the reference's (a feed that writes 0 for a missing value).
- ``out_of_range``: values beyond the reference's observed range by more than the range's own width (x10, x60,
  x1000 unit changes land there; a shift of one std or a 1.3 scale stays inside, for the drift detector).
- ``broken_relation``: a near-deterministic pair of the reference (``y ≈ slope·x + intercept`` within 1 % of y's
  std on >= 99 % of reference rows; in churn, total_day_charge = 0.17 × total_day_minutes) fails by a factor of 2
  or more on a share of rows. A population that moves moves both columns of such a pair together (the pair is
  how the data is produced, not who is in it), so only a change in how one column is produced breaks it.

Every test is one-sided at ``alpha`` / number of tests (Bonferroni, as the drift check), with the reference's
own share bounded from above (``plausibility_stats``), so a window drawn from the reference's distribution raises
a false alarm with probability <= alpha. A finding also needs a share of implausible rows at least ``min_share``
above the reference's (default 2 %, the service's tolerated rejection rate), so a huge window does not flag
trivia. A window too small for a test to ever fire gets a "not enough data" note instead of a finding.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

from ml_core.monitoring.plausibility_stats import (
    breaks,
    fit_relation,
    max_count_pvalue,
    outside_range_share,
    tail_pvalue,
    upper_share,
)

ProblemKind = Literal["stuck_constant", "zero_jump", "out_of_range", "broken_relation"]
MIN_IMPLAUSIBLE_SHARE = 0.02  # the scoring service's default tolerated rejection rate: less is not worth a page
CONTINUOUS_MODE_SHARE = 0.02  # below this, no reference value is common: a pile-up on one value is a written default
CHECKS_PER_COLUMN = 3  # stuck, zeros, range


@dataclass(frozen=True)
class ColumnProfile:
    """One numeric column of the reference: its sorted non-null values and the counts behind each check."""

    name: str
    values: np.ndarray
    value_counts: np.ndarray
    zeros: int

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def low(self) -> float:
        return float(self.values[0])

    @property
    def high(self) -> float:
        return float(self.values[-1])

    @property
    def mode_share(self) -> float:
        return float(self.value_counts.max()) / self.n


@dataclass(frozen=True)
class Relation:
    """A near-deterministic pair of the reference: ``y ≈ slope·x + intercept`` within ``tol``."""

    x: str
    y: str
    slope: float
    intercept: float
    tol: float
    n: int
    broken: int  # reference rows that break it (BREAK_FACTOR), the base rate of the window's test

    @property
    def subject(self) -> str:
        return f"{self.x}+{self.y}"


@dataclass(frozen=True)
class PlausibilityProfile:
    columns: dict[str, ColumnProfile]
    relations: tuple[Relation, ...]

    @property
    def n_tests(self) -> int:
        return CHECKS_PER_COLUMN * len(self.columns) + len(self.relations)


class PlausibilityProblem(BaseModel):
    kind: ProblemKind
    subject: str = Field(description="the column, or 'x+y' for a broken relation")
    columns: list[str] = Field(description="the columns to blame, most likely first")
    suspect: str | None = Field(None, description="for a relation: the column that moved while its partner held")
    count: int = Field(description="implausible rows in the window")
    n: int = Field(description="window rows tested (non-null)")
    share: float
    reference_share: float
    p_value: float = Field(description="one-sided bound, to compare with alpha / n_tests")
    value: float | None = Field(None, description="the stuck value")
    first_ts: float | None = Field(None, description="timestamp of the first implausible row, when the window has ts")
    detail: str


class PlausibilityReport(BaseModel):
    n_rows: int
    n_tests: int
    problems: list[PlausibilityProblem]
    not_tested: list[str] = Field(default_factory=list, description="'not enough data for ...' notes")


def build_plausibility_profile(reference: pd.DataFrame, columns: Sequence[str]) -> PlausibilityProfile:
    """Learn the per-column shares and the near-deterministic pairs from the reference's numeric ``columns``."""
    profiles: dict[str, ColumnProfile] = {}
    for name in columns:
        if name not in reference.columns:
            continue
        values = np.sort(pd.to_numeric(reference[name], errors="coerce").dropna().to_numpy(float))
        if len(values) < 2:
            continue
        _, counts = np.unique(values, return_counts=True)
        profiles[name] = ColumnProfile(name, values, counts, int((values == 0).sum()))
    relations = []
    for x, y in itertools.combinations(profiles, 2):
        if max(profiles[x].mode_share, profiles[y].mode_share) > 0.5:
            continue  # mostly one value: the pair would "hold" through that value alone
        pair = reference[[x, y]].apply(pd.to_numeric, errors="coerce").dropna().to_numpy(float)
        fit = fit_relation(pair[:, 0], pair[:, 1])
        if fit is not None:
            slope, intercept, tol, _ = fit
            broken = int(breaks(pair[:, 0], pair[:, 1], slope, intercept, tol).sum())
            relations.append(Relation(x, y, slope, intercept, tol, len(pair), broken))
    return PlausibilityProfile(profiles, tuple(relations))


def check_plausibility(profile: PlausibilityProfile, window: pd.DataFrame, *, alpha: float = 0.01,
                       min_share: float = MIN_IMPLAUSIBLE_SHARE) -> PlausibilityReport:
    """The plausibility problems of one window (columns the window lacks are skipped)."""
    a = alpha / max(profile.n_tests, 1) / 2  # half bounds the reference's share, half the window's tail
    ts = pd.to_numeric(window["ts"], errors="coerce").to_numpy(float) if "ts" in window else None
    problems: list[PlausibilityProblem] = []
    untested: list[str] = []
    for col in profile.columns.values():
        if col.name in window.columns:
            found, small = _column_problems(col, window[col.name], ts, a, min_share)
            problems += found
            untested += small
    for rel in profile.relations:
        if rel.x in window.columns and rel.y in window.columns:
            found, small = _relation_problem(profile, rel, window, ts, a, min_share, problems)
            problems += found
            untested += small
    return PlausibilityReport(n_rows=len(window), n_tests=profile.n_tests, problems=problems, not_tested=untested)


def _first_ts(ts: np.ndarray | None, bad: np.ndarray) -> float | None:
    return float(np.nanmin(ts[bad])) if ts is not None and bad.any() else None


def _column_problems(col: ColumnProfile, raw: pd.Series, ts: np.ndarray | None, a: float, min_share: float
                     ) -> tuple[list[PlausibilityProblem], list[str]]:
    """Stuck, zero and range checks of one column; notes for those the window is too small to ever fire."""
    numbers = pd.to_numeric(raw, errors="coerce")
    present = numbers.notna().to_numpy()
    v = numbers.to_numpy(float)[present]
    ts = ts[present] if ts is not None else None
    n = len(v)
    if n < 2:
        return [], [f"not enough data for plausibility checks on {col.name}: {n} non-null rows"]
    found, small = [], []
    base = {"subject": col.name, "columns": [col.name], "n": n}
    uniq, counts = np.unique(v, return_counts=True)
    k, value = int(counts.max()), float(uniq[counts.argmax()])
    if max_count_pvalue(n, n, col.value_counts, col.n, a) >= a:
        small.append(f"not enough data for stuck_constant on {col.name}: {n} rows")
    elif k == n or (value != 0 and col.mode_share <= CONTINUOUS_MODE_SHARE and k / n - col.mode_share >= min_share):
        # a share of zeros is zero_jump's (its base rate is the reference's own zero share)
        p = max_count_pvalue(k, n, col.value_counts, col.n, a)
        if p < a:
            found.append(PlausibilityProblem(
                kind="stuck_constant", count=k, share=k / n, reference_share=col.mode_share, p_value=p, value=value,
                first_ts=_first_ts(ts, v == value), **base,
                detail=f"{col.name} is {value:g} in {k}/{n} rows (no reference value held more than "
                       f"{col.mode_share:.1%})"))
    stuck_at_zero = bool(found) and value == 0
    width = (col.high - col.low) or max(abs(col.high), 1.0)
    lo, hi = col.low - width, col.high + width
    tests = (("zero_jump", v == 0, col.zeros / col.n, upper_share(col.zeros, col.n, a),
              f"{col.name} is 0 in {{share:.1%}} of rows (reference {col.zeros / col.n:.1%})"),
             ("out_of_range", (v < lo) | (v > hi), 0.0, outside_range_share(col.n, a),
              f"{col.name} is outside [{lo:g}, {hi:g}] (the reference's range {col.low:g}..{col.high:g} widened "
              "by its width) in {share:.1%} of rows"))
    for kind, bad, ref_share, bound, text in tests:
        if tail_pvalue(n, n, bound) >= a:
            small.append(f"not enough data for {kind} on {col.name}: {n} rows")
            continue
        k = int(bad.sum())
        p = tail_pvalue(k, n, bound)
        if (kind == "zero_jump" and stuck_at_zero) or k / n - ref_share < min_share or p >= a:
            continue
        found.append(PlausibilityProblem(kind=kind, count=k, share=k / n, reference_share=ref_share, p_value=p,
                                         first_ts=_first_ts(ts, bad), detail=text.format(share=k / n), **base))
    return found, small


def _relation_problem(profile: PlausibilityProfile, rel: Relation, window: pd.DataFrame, ts: np.ndarray | None,
                      a: float, min_share: float, column_problems: Sequence[PlausibilityProblem]
                      ) -> tuple[list[PlausibilityProblem], list[str]]:
    """The pair's broken rows against the reference's; the suspect is the column that moved while its partner held."""
    pair = window[[rel.x, rel.y]].apply(pd.to_numeric, errors="coerce")
    present = pair.notna().all(axis=1).to_numpy()
    xy = pair.to_numpy(float)[present]
    n = len(xy)
    bound = upper_share(rel.broken, rel.n, a)
    if n < 2 or tail_pvalue(n, n, bound) >= a:
        return [], [f"not enough data for broken_relation on {rel.subject}: {n} rows"]
    bad = breaks(xy[:, 0], xy[:, 1], rel.slope, rel.intercept, rel.tol)
    k, ref_share = int(bad.sum()), rel.broken / rel.n
    p = tail_pvalue(k, n, bound)
    if k / n - ref_share < min_share or p >= a:
        return [], []
    suspect = _suspect(profile, rel, xy, a, column_problems)
    columns = [suspect, rel.y if suspect == rel.x else rel.x] if suspect else [rel.x, rel.y]
    moved = f"; {suspect} moved while its partner held" if suspect else ""
    return [PlausibilityProblem(
        kind="broken_relation", subject=rel.subject, columns=columns, suspect=suspect, count=k, n=n, share=k / n,
        reference_share=ref_share, p_value=p, first_ts=_first_ts(ts[present] if ts is not None else None, bad),
        detail=f"{rel.y} ≈ {rel.slope:.4g}·{rel.x} {rel.intercept:+.3g} fails by a factor of 2 or more in "
               f"{k / n:.1%} of rows (reference {ref_share:.2%}){moved}")], []


def _suspect(profile: PlausibilityProfile, rel: Relation, xy: np.ndarray, a: float,
             column_problems: Sequence[PlausibilityProblem]) -> str | None:
    """The pair's column with its own problem in this window, else the one whose distribution moved (K-S at
    the same level) while the other's did not move as much; None when neither moved."""
    flagged = {p.subject for p in column_problems}
    if (rel.x in flagged) != (rel.y in flagged):
        return rel.x if rel.x in flagged else rel.y
    tests = {c: stats.ks_2samp(xy[:, i], profile.columns[c].values) for i, c in enumerate((rel.x, rel.y))}
    moved = max(tests, key=lambda c: tests[c].statistic)
    return moved if tests[moved].pvalue < a else None
