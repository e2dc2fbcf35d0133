"""Low-traffic models: windows of 10-50 rows get sound tests or "not enough data", never a crash or a false alarm.

Windows are drawn from the churn and credit test splits, scored by a model trained on the training split (the
reference), so every window comes from the reference's own distribution.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import get_args

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ml_core.data.tables import Split, split_frame
from ml_core.model import TabularModel
from ml_core.monitoring.check import MonitoringResult, MonitoringThresholds, run_check
from ml_core.monitoring.columns import schema_kinds
from ml_core.monitoring.drift_screen import FeatureDrift, ReferenceProfile, build_profile, build_score_profile, screen
from ml_core.monitoring.drift_stats import z_test
from ml_core.monitoring.evidently_report import run_evidently_drift, verdicts_from_snapshot, write_drift_report
from ml_core.monitoring.spec_thresholds import monitoring_thresholds
from ml_core.monitoring.stattests import EVIDENTLY_DISPLAY_NAMES, EvidentlyTest, evidently_test_id
from ml_core.monitoring.sufficiency import (
    column_shortfall,
    distribution_best_pvalue,
    proportion_shortfall,
    rows_for_cochran,
)
from ml_core.spec.builtin import builtin_spec
from ml_core.spec.data import load_spec_data
from ml_core.spec.model_spec import ModelSpec
from ml_core.training import TrainConfig, train_model

WINDOW_SIZES = (10, 20, 30, 40, 50)
N_WINDOWS = 40
FAST = TrainConfig(epochs=2, members=1, hidden=32)


@dataclass
class Served:
    """A model trained on one spec's training split, and what the check needs from its reference."""

    spec: ModelSpec
    split: Split
    model: TabularModel
    reference_scores: np.ndarray
    reference_labels: np.ndarray
    thresholds: MonitoringThresholds
    profile: ReferenceProfile
    score_profile: ReferenceProfile

    def window(self, rows: pd.DataFrame) -> pd.DataFrame:
        w = rows.reset_index(drop=True).copy()
        w["score"] = self.model.predict_proba(w)
        return w

    def check(self, window: pd.DataFrame) -> MonitoringResult:
        return run_check(self.split.train, self.reference_scores, window, model_threshold=self.model.threshold,
                         reference_labels=self.reference_labels, schema=self.spec.schema, thresholds=self.thresholds,
                         profile=self.profile, score_profile=self.score_profile, rejections=0)


@pytest.fixture(scope="module", params=["churn", "credit"])
def served(request) -> Served:
    spec = builtin_spec(request.param)
    schema = spec.schema
    split = split_frame(load_spec_data(spec), schema)
    config = FAST.model_copy(update={"exclude_columns": tuple(spec.exclude_from_training)})
    model = train_model(split, config, schema).model
    ref = split.train
    ref_scores = model.predict_proba(ref)
    return Served(spec, split, model, ref_scores, schema.labels_to_int(ref[schema.label]).to_numpy(),
                  monitoring_thresholds(spec, 250.0, 0.01),
                  build_profile(ref, schema.feature_names, schema_kinds(schema)), build_score_profile(ref_scores))


def _windows(served: Served, seed: int = 0) -> list[pd.DataFrame]:
    rng = np.random.default_rng(seed)
    test = served.split.test
    return [served.window(test.iloc[rng.choice(len(test), int(rng.choice(WINDOW_SIZES)), replace=False)])
            for _ in range(N_WINDOWS)]


def test_the_test_table_is_evidentlys_registry():
    from evidently.legacy.calculations import stattests  # noqa: F401  (registers every test)
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    installed = {t.display_name: t.name for by_type in _registered_stat_tests.values() for t in by_type.values()}
    assert installed == EVIDENTLY_DISPLAY_NAMES
    assert set(installed.values()) | {"other"} == set(get_args(EvidentlyTest))


def test_an_unknown_test_is_kept_as_reported():
    assert evidently_test_id("Absolute text content drift") == "abs_text_content_drift"
    assert evidently_test_id("custom function 'my_test'") == "other"
    drift = FeatureDrift(name="note", kind="text", test=evidently_test_id("custom function 'my_test'"),
                         method="custom function 'my_test'", statistic=0.3, threshold=0.5, drifted=False,
                         n_reference=100, n_current=20)
    assert (drift.test, drift.method) == ("other", "custom function 'my_test'")


def test_cochran_and_the_smallest_attainable_p_value():
    # 51 equal categories: 5 expected in each needs 255 rows; 254 rows leave all 51 below 5.
    uniform = np.full(51, 100)
    assert rows_for_cochran(uniform / uniform.sum()) == 255
    assert column_shortfall("jensenshannon", 254, 0.01, n_reference=5100, keys=np.arange(51),
                            reference_counts=uniform) is not None
    assert column_shortfall("jensenshannon", 255, 0.01, n_reference=5100, keys=np.arange(51),
                            reference_counts=uniform) is None
    # Exact K-S (a reference of <= 1000 rows): two samples fully apart give p = 2 / C(n + m, m), 2/1001 for one
    # row -- above 0.01 / 19 -- and 4e-6 for two.
    level = 0.01 / 19
    assert distribution_best_pvalue("ks", 1000, 1) == pytest.approx(2 / 1001)
    assert "about 2 rows" in column_shortfall("ks", 1, level, n_reference=1000)
    assert column_shortfall("ks", 2, level, n_reference=1000) is None
    # Z-test of a 50/50 binary: the fewest rows whose most extreme window reaches the level, found by brute force
    counts, keys = np.array([500, 500]), np.array(["a", "b"], dtype=object)
    brute = next(m for m in range(1, 100) if z_test(keys, counts, np.array([m, 0])) < level)
    assert brute == 13
    assert f"about {brute} rows" in column_shortfall("z", 12, level, n_reference=1000, keys=keys,
                                                     reference_counts=counts)
    assert column_shortfall("z", brute, level, n_reference=1000, keys=keys, reference_counts=counts) is None
    # a positive rate of 10 %: 5 expected positives need 50 rows
    assert "about 50 rows" in proportion_shortfall(49, 0.1, 3000, 0.01)
    assert proportion_shortfall(50, 0.1, 3000, 0.01) is None


def test_tiny_windows_are_quiet_and_say_what_they_could_not_test(served: Served):
    """40 same-distribution windows of 10-50 rows: no crash, and findings no more often than the check's stated
    false-alarm rate allows. Per window that rate is at most drift_alpha for the features (Bonferroni), drift_alpha
    for the score, prior_alpha for the predicted positive rate and drift_alpha for null shares (Bonferroni over
    the nullable columns): 0.04 with the spec defaults. The test allows the 99.9th percentile of
    Binomial(40, 0.04) windows with a finding (so it fails by chance once in a thousand runs of a sound check)."""
    th = served.thresholds
    bound = 3 * th.drift_alpha + th.prior_alpha
    alarmed = []
    features = set(served.spec.schema.feature_names)
    for window in _windows(served):
        result = served.check(window)
        if result.findings:
            alarmed.append((len(window), [f.message for f in result.findings]))
        named = {i.name for i in result.insufficient if i.check == "feature_drift"}
        if len(window) < th.min_rows_drift:
            assert result.drift is None and named == features
            assert {"score", "estimated_f1", "predicted_positive_rate"} <= {i.name for i in result.insufficient}
        else:  # every feature is either tested or named, never silently dropped
            assert {f.name for f in result.drift.features} | named == features
            assert not {f.name for f in result.drift.features} & named
        assert "not enough data for " in result.summary
    assert len(alarmed) <= stats.binom.ppf(0.999, N_WINDOWS, bound), alarmed


# Categorical columns with rare categories: churn's 51 states (about 1 row each in 50) and a 10 % plan; credit's
# Marital (0.7 % divorced) and Home (0.5 % "ignore").
SPARSE = {"churn": ("state", "international_plan"), "credit": ("Marital", "Home")}


def test_sparse_categories_at_50_rows_get_an_exact_test_and_no_false_alarm(served: Served):
    """Cochran's rule fails for these columns at 50 rows, so their drift is confirmed by an exact (Monte-Carlo)
    goodness-of-fit test instead of the chi-square approximation: tested, not skipped, and quiet on quiet data."""
    result = served.check(served.window(served.split.test.head(50)))
    tested = {f.name: f for f in result.drift.features}
    for column in SPARSE[served.spec.name]:
        assert column in tested and column not in {i.name for i in result.insufficient}
        f = tested[column]
        assert not f.drifted or (f.confirm_pvalue is not None and f.confirm_pvalue >= 0.01 / len(tested))
        assert not any(f.subject == column for f in result.findings)


def test_a_sparse_category_that_really_moved_is_found_at_50_rows(served: Served):
    column = SPARSE[served.spec.name][1]  # churn international_plan (10 % yes), credit Home
    rows = served.split.test.sample(50, random_state=4).copy()
    rare = rows[column].value_counts().index[-1]
    rows[column] = [rare if i % 2 else v for i, v in enumerate(rows[column])]  # half the window: the rarest value
    result = served.check(served.window(rows))
    assert column in result.drifted_features, result.summary


def test_the_exact_confirmation_has_its_stated_false_alarm_rate() -> None:
    from ml_core.monitoring.drift_stats import exact_gof_pvalue

    rng = np.random.default_rng(9)
    r = np.array([3000, 300, 30, 3])
    p = np.array([exact_gof_pvalue(r, rng.multinomial(40, r / r.sum()), 0.01, seed=i) for i in range(300)])
    assert (p < 0.01).mean() <= 0.03  # about uniform under the null: ~1 % below 0.01
    assert exact_gof_pvalue(r, np.array([10, 10, 10, 10]), 0.01) < 1e-3
    assert exact_gof_pvalue(np.array([10, 10, 0]), np.array([3, 3, 1]), 0.01) < 1e-3  # a value never seen


STRONG_SHIFT = {"churn": "total_day_minutes", "credit": "Amount"}


def test_a_drift_strong_enough_for_50_rows_is_still_found(served: Served):
    """Two reference standard deviations on one numeric feature: K-S at 50 rows gives p far below 0.01 / 13."""
    column = STRONG_SHIFT[served.spec.name]
    rows = served.split.test.sample(50, random_state=3).copy()
    rows[column] = rows[column] + 2 * served.split.train[column].std()
    result = served.check(served.window(rows))
    assert result.drifted_features == [column], result.summary
    assert column not in {i.name for i in result.insufficient}


def test_the_screen_equals_evidently_on_what_50_rows_can_test(served: Served):
    schema = served.spec.schema
    ref, cur = served.split.train[schema.feature_names], served.split.test[schema.feature_names].head(50)
    kinds = schema_kinds(schema)
    fast = screen(served.profile, cur, level=served.thresholds.drift_alpha / len(schema.feature_names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evidently = verdicts_from_snapshot(run_evidently_drift(ref, cur, kinds=kinds), ref, cur, kinds=kinds)
    ev = {f.name: f for f in evidently.features}
    assert fast.features
    for f in fast.features:
        assert (f.test, f.drifted) == (ev[f.name].test, ev[f.name].drifted), f
        assert f.statistic == pytest.approx(ev[f.name].statistic, rel=1e-7, abs=1e-12)


def test_evidently_on_20_rows_with_51_states_does_not_crash(tmp_path):
    """Left to infer kinds, Evidently types churn's state text on 20 rows (more distinct values than half the
    rows) and runs its text-drift test; the verdicts read it. With the schema's kinds it is categorical."""
    spec = builtin_spec("churn")
    split = split_frame(load_spec_data(spec), spec.schema)
    features = spec.schema.feature_names
    ref, cur = split.train[features], split.test[features].head(20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inferred = write_drift_report(ref, cur, tmp_path, stamp="inferred", plots=False)
        fixed = write_drift_report(ref, cur, tmp_path, stamp="fixed", kinds=schema_kinds(spec.schema), plots=False)
    state = {f.name: f for f in inferred.result.features}["state"]
    assert (state.kind, state.test, state.method) == ("text", "abs_text_content_drift", "Absolute text content drift")
    state = {f.name: f for f in fixed.result.features}["state"]
    assert (state.kind, state.test) == ("categorical", "jensenshannon")
    assert (fixed.directory / "verdicts.json").exists()


def test_a_column_empty_in_the_window_is_named_not_a_crash(served: Served, tmp_path):
    schema = served.spec.schema
    column = schema.feature_names[1]
    rows = served.split.test.head(40).copy()
    rows[column] = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = write_drift_report(served.split.train[schema.feature_names], rows[schema.feature_names], tmp_path,
                                    kinds=schema_kinds(schema), plots=False, html=False)
    assert [(i.name, i.reason) for i in report.result.insufficient] == [(column, "no finite values in the window")]
    assert column not in {f.name for f in report.result.features}
    with pytest.raises(ValueError, match="nothing to compare"):  # a message, not Evidently's ZeroDivisionError
        run_evidently_drift(served.split.train[[column]], rows[[column]], kinds=schema_kinds(schema))
    window = served.window(served.split.test.head(40))  # scored before the feed lost the column
    window[column] = None
    result = served.check(window)
    assert (column, "no finite values in the window") in {(i.name, i.reason) for i in result.insufficient}
    assert any(f.kind == "null_share" and f.subject == column for f in result.findings)  # the data-quality side
