"""The canary's F1 verdict: its false-rollback rate on equal versions, its power on a worse one, its edges."""

from __future__ import annotations

import numpy as np
import pandas as pd

from graphs.canary_verdict import ALPHA, MIN_LABELS, Confusion, confusion_by_version, f1_problem


def _sample(rng: np.random.Generator, n: int, *, prevalence: float, recall: float, fpr: float) -> Confusion:
    actual = rng.random(n) < prevalence
    predicted = np.where(actual, rng.random(n) < recall, rng.random(n) < fpr)
    return Confusion(int((predicted & actual).sum()), int((predicted & ~actual).sum()),
                     int((~predicted & actual).sum()), int((~predicted & ~actual).sum()))


def test_equal_versions_are_rarely_rolled_back() -> None:
    # The canary's share of a watch (~60 labels) against the champion's (~540): the case the fixed 0.05 rule got
    # wrong about one time in four. The one-sided test at ALPHA keeps false rollbacks near ALPHA.
    rng = np.random.default_rng(7)
    trials, old_rule, new_rule = 400, 0, 0
    for _ in range(trials):
        canary = _sample(rng, 60, prevalence=0.3, recall=0.8, fpr=0.1)
        champion = _sample(rng, 540, prevalence=0.3, recall=0.8, fpr=0.1)
        old_rule += canary.f1 < champion.f1 - 0.05
        new_rule += f1_problem(canary, champion) is not None
    assert old_rule / trials > 0.15  # the rule this replaces: the noise alone often exceeded 0.05
    assert new_rule / trials <= ALPHA + 0.03  # binomial slack at 400 trials (~2 standard errors)


def test_a_clearly_worse_canary_is_rolled_back() -> None:
    rng = np.random.default_rng(11)
    caught = sum(f1_problem(_sample(rng, 100, prevalence=0.3, recall=0.45, fpr=0.15),
                            _sample(rng, 900, prevalence=0.3, recall=0.85, fpr=0.08)) is not None
                 for _ in range(100))
    assert caught >= 95


def test_too_few_labels_or_a_small_loss_give_no_verdict() -> None:
    worse = Confusion(tp=5, fp=20, fn=20, tn=5)  # F1 0.20
    good = Confusion(tp=40, fp=5, fn=5, tn=50)  # F1 0.89
    assert f1_problem(Confusion(2, 8, 8, 2), good) is None  # 20 labels: below MIN_LABELS
    assert worse.n == MIN_LABELS
    message = f1_problem(worse, good)
    assert message is not None
    assert message.startswith("canary F1 0.200 vs champion 0.889 on labelled traffic (50 vs 100")
    slightly = Confusion(tp=38, fp=6, fn=6, tn=50)  # F1 0.864: 0.025 below, significant or not, not worth it
    assert f1_problem(slightly, good) is None


def test_the_verdict_is_deterministic() -> None:
    canary, champion = Confusion(30, 14, 14, 42), Confusion(300, 60, 60, 580)
    assert len({f1_problem(canary, champion) for _ in range(5)}) == 1


def test_confusion_by_version_counts_each_versions_decisions() -> None:
    labelled = pd.DataFrame({"version": ["1", "1", "1", "2", "2"], "predicted": [1, 0, 1, 0, 1],
                             "actual": [1, 1, 0, 0, 1]})
    assert confusion_by_version(labelled) == {"1": Confusion(1, 1, 1, 0), "2": Confusion(1, 0, 0, 1)}
    assert confusion_by_version(labelled.iloc[:0]) == {}
