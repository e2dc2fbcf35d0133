"""Is the canary's realised F1 worse than the champion's, beyond the noise of the labels each has seen?

A canary gets a tenth of the traffic, so during its watch it sees tens of labels: at 50 labels the F1 of one
version moves by ~0.05-0.07 from sample to sample alone. A fixed "0.05 below the champion" rule therefore rolled
back a good canary about one time in four. The canary is rolled back only when both hold:

- the point loss is over ``MAX_F1_LOSS`` (a loss too small to matter is not worth a rollback), and
- the loss is significant: in a parametric bootstrap of both versions' confusion counts (multinomial draws,
  fixed seed, so one window has one verdict), the canary scores at least the champion in under ``ALPHA`` of the
  draws. For two versions of equal quality this one-sided test rolls back at most ~``ALPHA`` of the time
  (``tests/graphs/test_canary_verdict.py`` measures it on simulated equal versions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_F1_LOSS = 0.05
ALPHA = 0.05  # the false-rollback rate we accept for a canary as good as the champion
MIN_LABELS = 50  # each side: below this the watch has no F1 verdict (requests and SLOs still count)
DRAWS = 2000


@dataclass(frozen=True)
class Confusion:
    """A version's decisions on its labelled traffic."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def f1(self) -> float:
        wrong = self.fp + self.fn
        return 2 * self.tp / (2 * self.tp + wrong) if self.tp + wrong else 1.0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)


def confusion_by_version(labelled: pd.DataFrame) -> dict[str, Confusion]:
    """Each version's confusion counts from labelled predictions (columns version, predicted, actual)."""
    out: dict[str, Confusion] = {}
    if not len(labelled):
        return out
    for version, g in labelled.groupby(labelled["version"].astype(str)):
        p, a = g["predicted"].to_numpy() == 1, g["actual"].to_numpy() == 1
        out[str(version)] = Confusion(int((p & a).sum()), int((p & ~a).sum()), int((~p & a).sum()),
                                      int((~p & ~a).sum()))
    return out


def _bootstrap_f1(c: Confusion, rng: np.random.Generator) -> np.ndarray:
    draws = rng.multinomial(c.n, np.array([c.tp, c.fp, c.fn, c.tn], dtype=float) / c.n, size=DRAWS)
    tp, wrong = draws[:, 0], draws[:, 1] + draws[:, 2]
    denominator = 2 * tp + wrong
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0)


def share_canary_at_least_as_good(canary: Confusion, champion: Confusion, *, seed: int = 0) -> float:
    """The share of bootstrap draws in which the canary's F1 is at least the champion's (a one-sided p-value)."""
    rng = np.random.default_rng(seed)
    return float((_bootstrap_f1(canary, rng) >= _bootstrap_f1(champion, rng)).mean())


def f1_problem(canary: Confusion, champion: Confusion) -> str | None:
    """Why the canary must be rolled back on its realised F1, or None (healthy, or too few labels to judge)."""
    if canary.n < MIN_LABELS or champion.n < MIN_LABELS:
        return None
    loss = champion.f1 - canary.f1
    if loss <= MAX_F1_LOSS:
        return None
    p = share_canary_at_least_as_good(canary, champion)
    if p >= ALPHA:
        return None
    return (f"canary F1 {canary.f1:.3f} vs champion {champion.f1:.3f} on labelled traffic ({canary.n} vs "
            f"{champion.n} labels; the canary at least as good in {p:.1%} of bootstrap draws)")
