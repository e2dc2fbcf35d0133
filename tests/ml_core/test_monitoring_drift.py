"""The fast drift screen against Evidently 0.7's DataDriftPreset, and the Evidently report files."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml_core.monitoring.drift_screen import (
    _value_counts,
    build_profile,
    build_score_profile,
    infer_column_kind,
    screen,
    screen_scores,
)
from ml_core.monitoring.drift_stats import wasserstein_normed
from ml_core.monitoring.evidently_report import run_evidently_drift, verdicts_from_snapshot, write_drift_report


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Every branch of Evidently's test choice: floats, wide ints, low-cardinality ints (categorical),
    a float column with 4 and one with 2 values, a binary and two multi-valued string columns."""
    return pd.DataFrame({
        "f": rng.normal(shift, 1, n),
        "wide_int": rng.integers(0, 100 + int(shift * 30), n),
        "low_int": rng.integers(0, 3, n),
        "f4": rng.integers(0, 4, n).astype(float),
        "f2": rng.integers(0, 2, n).astype(float) + shift,
        "binary": rng.choice(["a", "b"], n, p=[0.5 + shift / 4, 0.5 - shift / 4]),
        "cat": rng.choice(list("abcdefg"), n),
        "many": rng.choice([f"s{i}" for i in range(40)], n),
    })


def _compare(ref: pd.DataFrame, cur: pd.DataFrame, kinds=None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evidently = verdicts_from_snapshot(run_evidently_drift(ref, cur, kinds=kinds), ref, cur, kinds=kinds)
    fast = screen(build_profile(ref, kinds=kinds), cur)
    ev = {f.name: f for f in evidently.features}
    assert set(ev) == {f.name for f in fast.features}
    for f in fast.features:
        e = ev[f.name]
        assert (f.test, f.drifted) == (e.test, e.drifted), (f, e)
        assert f.statistic == pytest.approx(e.statistic, rel=1e-7, abs=1e-12), (f, e)
    assert (fast.n_drifted, fast.dataset_drifted) == (evidently.n_drifted, evidently.dataset_drifted)


@pytest.mark.parametrize(("n_ref", "n_cur", "shift", "seed"), [
    (300, 400, 0.0, 0), (300, 250, 0.5, 1), (1000, 700, 0.2, 2), (1001, 1500, 0.0, 3),
    (4000, 3000, 0.3, 4), (4000, 2000, 0.0, 5),
])
def test_screen_matches_evidently_defaults(n_ref: int, n_cur: int, shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    _compare(_frame(rng, n_ref), _frame(rng, n_cur, shift))


def test_screen_matches_evidently_with_fixed_kinds_and_nans() -> None:
    rng = np.random.default_rng(11)
    ref, cur = _frame(rng, 2000), _frame(rng, 1500, 0.1)
    ref.loc[ref.sample(100, random_state=0).index, "f"] = np.nan
    cur.loc[cur.sample(50, random_state=1).index, "f"] = np.inf
    kinds = {"wide_int": "categorical", "low_int": "numerical", "f4": "categorical"}
    _compare(ref, cur, kinds)


def test_column_kinds_follow_evidently_inference() -> None:
    assert infer_column_kind(pd.Series([1, 2, 3] * 10)) == "categorical"
    assert infer_column_kind(pd.Series(range(30))) == "numerical"
    assert infer_column_kind(pd.Series([0.5, 1.5])) == "numerical"
    assert infer_column_kind(pd.Series(["a", "b"] * 10)) == "categorical"
    assert infer_column_kind(pd.Series([f"t{i}" for i in range(20)])) is None  # text: not screened


def test_wasserstein_equals_scipy_with_ties() -> None:
    rng = np.random.default_rng(3)
    ref, cur = np.sort(rng.integers(0, 30, 5000).astype(float)), np.sort(rng.integers(0, 33, 3000).astype(float))
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert wasserstein_normed(ref, cur, float(np.std(ref))) == pytest.approx(expected, rel=1e-12)


def test_profile_is_reusable_and_score_drift_detected() -> None:
    rng = np.random.default_rng(5)
    profile = build_score_profile(rng.beta(2, 5, 3000))
    quiet = screen_scores(profile, rng.beta(2, 5, 1000))
    moved = screen_scores(profile, rng.beta(3, 4, 1000))
    assert (quiet.test, quiet.drifted) == ("wasserstein", False)
    assert moved.drifted and moved.confirm_pvalue is not None and moved.confirm_pvalue < 1e-6


def test_evidently_report_files_and_plots(tmp_path) -> None:
    rng = np.random.default_rng(9)
    ref, cur = _frame(rng, 1500)[["f", "cat", "low_int"]], _frame(rng, 800, 0.6)[["f", "cat", "low_int"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = write_drift_report(ref, cur, tmp_path, stamp="t0")
    assert report.directory == tmp_path / "drift" / "t0"
    assert report.html is not None and report.html.stat().st_size > 10_000
    assert json.loads(report.json_path.read_text())["metrics"]
    assert json.loads((report.directory / "verdicts.json").read_text())["n_drifted"] == report.result.n_drifted
    assert [p.name for p in report.plots] == ["f.png"]
    assert report.plots[0].read_bytes()[:4] == b"\x89PNG"
    assert report.result.verdicts() == screen(build_profile(ref), cur).verdicts()


def test_string_counts_equal_pandas_value_counts_with_missing_values() -> None:
    rng = np.random.default_rng(3)
    values = rng.choice(np.array(["a", "b", "c", None, np.nan], dtype=object), 5_000)
    keys, counts = _value_counts(pd.Series(values, dtype=object))
    expected = pd.Series(values, dtype=object).value_counts(dropna=True)
    assert dict(zip(keys, counts, strict=True)) == expected.to_dict()
    assert counts.dtype == np.int64 and None not in set(keys)
