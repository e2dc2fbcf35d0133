"""Shadow evaluation (a release against its baseline on the same records) and slice regressions: each statistic's
one right answer on constructed data, and its stated false-alarm rate on same-quality versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.monitoring.shadow import compare, mcnemar_worse, release_rows
from ml_core.monitoring.slices import slice_regressions


def test_mcnemar_counts_only_the_records_the_two_versions_disagree_on() -> None:
    release_wrong = np.array([1, 1, 1, 0, 0, 1], bool)
    baseline_wrong = np.array([0, 0, 1, 1, 0, 1], bool)
    b, c, p = mcnemar_worse(release_wrong, baseline_wrong)
    assert (b, c) == (2, 1)
    assert p == pytest.approx(0.5)  # P(X >= 2 | 3, 1/2) = 4/8


def _rows(decided: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"label": decided, "record_id": [f"r{i}" for i in range(len(decided))]})


def test_a_release_that_errs_more_on_the_same_labelled_records_is_worse() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.3).astype(int)
    baseline_scores = np.where(y == 1, 0.8, 0.2)  # the baseline decides every record right
    bad = np.where(rng.random(600) < 0.25, 1 - y, y)  # the release flips a quarter of them
    out = compare(_rows(bad), baseline_scores, 0.5, release="2", baseline="1", how="promoted",
                  actual=pd.Series(y.astype(float)))
    assert out.worse and out.p_value < 1e-10
    assert out.release_only_wrong == int((bad != y).sum()) and out.baseline_only_wrong == 0
    assert out.baseline_f1 == 1.0 and out.release_f1 < 0.8


def test_an_identical_release_is_never_worse_and_agrees_everywhere() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random(500)
    decided = (scores >= 0.4).astype(int)
    y = (rng.random(500) < scores).astype(float)
    out = compare(_rows(decided), scores, 0.4, release="2", baseline="1", how="canary", actual=pd.Series(y))
    assert out.disagreement == 0.0 and not out.worse and out.p_value == 1.0
    assert not out.estimated_worse and out.estimated_release_f1 == out.estimated_baseline_f1


def test_same_quality_releases_are_blamed_at_about_the_stated_rate() -> None:
    """Two versions with the same error rate, erring on independent records: blamed in <= alpha of checks."""
    rng = np.random.default_rng(2)
    blamed = 0
    for _ in range(400):
        y = (rng.random(300) < 0.3).astype(int)
        a = np.where(rng.random(300) < 0.1, 1 - y, y)
        b = np.where(rng.random(300) < 0.1, 1 - y, y)
        out = compare(_rows(a), b * 0.6 + 0.2, 0.5, release="2", baseline="1", how="canary",
                      actual=pd.Series(y.astype(float)))
        blamed += out.worse
    assert blamed / 400 <= 0.02  # alpha 0.01, and the exact test is conservative


def test_before_labels_a_release_is_judged_by_the_baselines_calibrated_scores() -> None:
    rng = np.random.default_rng(3)
    p = rng.beta(0.6, 1.8, 2000)  # a confident baseline
    good = (p >= 0.5).astype(int)
    noise = rng.integers(0, 2, 2000)  # a worthless release
    out = compare(_rows(noise), p, 0.5, release="2", baseline="1", how="canary")
    assert out.n_labelled == 0 and out.p_value is None and not out.worse
    assert out.estimated_worse and out.estimated_baseline_f1 - out.estimated_release_f1 >= 0.08
    assert out.disagreement > 0.3
    same = compare(_rows(good), p, 0.5, release="2", baseline="1", how="canary")
    assert not same.estimated_worse


def test_only_the_records_the_release_itself_decided_are_compared() -> None:
    window = pd.DataFrame({"version": ["1", "2", "2", "1"], "role": ["champion", "canary", "fallback", "fallback"],
                           "label": [0, 1, 0, 1]})
    assert release_rows(window, "2", "canary").index.tolist() == [1]
    assert release_rows(window, "1", "promoted").index.tolist() == [0]


def _decisions(n: int, error: float, rng: np.random.Generator, segment: str) -> pd.DataFrame:
    actual = (rng.random(n) < 0.3).astype(int)
    predicted = np.where(rng.random(n) < error, 1 - actual, actual)
    return pd.DataFrame({"Home": segment, "predicted": predicted, "actual": actual})


def test_a_slice_whose_decisions_went_wrong_is_named_and_the_others_are_not() -> None:
    rng = np.random.default_rng(4)
    reference = pd.concat([_decisions(800, 0.15, rng, "owner"), _decisions(400, 0.2, rng, "rent")])
    window = pd.concat([_decisions(600, 0.15, rng, "owner"), _decisions(200, 0.45, rng, "rent")])
    found = slice_regressions(window, reference, ["Home"])
    assert [s.name for s in found] == ["Home=rent"]
    assert found[0].error_rate > 0.35 and 0.15 < found[0].reference_error_rate < 0.25


def test_same_distribution_slices_rarely_regress_and_small_slices_are_skipped() -> None:
    rng = np.random.default_rng(5)
    reference = pd.concat([_decisions(800, 0.15, rng, "owner"), _decisions(400, 0.2, rng, "rent")])
    alarms = 0
    for _ in range(200):
        window = pd.concat([_decisions(600, 0.15, rng, "owner"), _decisions(200, 0.2, rng, "rent")])
        alarms += bool(slice_regressions(window, reference, ["Home"]))
    assert alarms / 200 <= 0.02  # family-wise alpha 0.01 over both slices
    tiny = pd.concat([_decisions(600, 0.15, rng, "owner"), _decisions(20, 0.9, rng, "rent")])
    assert slice_regressions(tiny, reference, ["Home"]) == []  # 20 labels: too few to test
