"""Training on a spec other than the demo's: the credit table (nullable money columns, nullable categoricals)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.baseline import SimpleBaseline, native_frame, train_baseline
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import Split, split_frame
from ml_core.evaluation import classification_metrics
from ml_core.features import Preprocessor
from ml_core.model import TabularModel
from ml_core.paths import HomeLayout
from ml_core.spec.data import load_spec_data
from ml_core.spec.model_spec import ModelSpec
from ml_core.spec.store import SpecStore
from ml_core.training import TrainConfig, train_model

FAST = {"epochs": 4, "members": 1, "hidden": 32}
NULLABLE_NUMERIC = ("Income", "Assets", "Debt")


@pytest.fixture(scope="module")
def credit_spec(tmp_path_factory) -> ModelSpec:
    return SpecStore(HomeLayout(tmp_path_factory.mktemp("home"))).get("credit")


@pytest.fixture(scope="module")
def credit_split(credit_spec) -> Split:
    return split_frame(load_spec_data(credit_spec), credit_spec.schema, seed=7)


@pytest.fixture(scope="module")
def credit_model(credit_spec, credit_split) -> TabularModel:
    config = TrainConfig(**FAST, exclude_columns=tuple(credit_spec.exclude_from_training))
    return train_model(credit_split, config, credit_spec.schema).model


def _auc(spec: ModelSpec, model, df: pd.DataFrame) -> float:
    y = spec.schema.labels_to_int(df[spec.schema.label]).to_numpy()
    return classification_metrics(y, model.predict_proba(df), model.threshold)["auc"]


def _odd_rows(split: Split) -> pd.DataFrame:
    """Test rows with what production sends: a null income, an unknown home, nulls everywhere allowed."""
    rows = split.test.head(3).copy()
    rows["Income"] = rows["Income"].astype("float64")
    rows.loc[rows.index[0], "Income"] = np.nan
    rows.loc[rows.index[1], "Home"] = "houseboat"
    rows.loc[rows.index[2], ["Income", "Assets", "Debt", "Home", "Marital", "Job"]] = None
    return rows


def test_credit_model_learns_and_round_trips(credit_spec, credit_split, credit_model, tmp_path):
    assert _auc(credit_spec, credit_model, credit_split.test) > 0.8  # the prior alone scores 0.5
    loaded = TabularModel.load(credit_model.save(tmp_path / "bundle"))
    test = credit_split.test
    np.testing.assert_array_equal(loaded.predict_proba(test), credit_model.predict_proba(test))
    assert loaded.threshold == credit_model.threshold and loaded.preprocessor == credit_model.preprocessor


def test_nulls_and_unknown_categories_score_finite(credit_split, credit_model):
    rows = _odd_rows(credit_split)
    p = credit_model.predict_proba(rows)
    assert p.shape == (3,) and np.isfinite(p).all() and ((p > 0) & (p < 1)).all()
    # A null is imputed with the training median and flagged (the flag standardised like every input).
    pre = credit_model.preprocessor
    x, names = pre.transform(rows), pre.feature_names
    flag = names.index("Income#null")
    assert x[0, flag] > 0 > x[1, flag]
    median = pre.transform(rows.iloc[[1]].assign(Income=pre.medians["Income"]))
    assert x[0, names.index("Income")] == median[0, names.index("Income")]
    home = [i for i, n in enumerate(names) if n.startswith("Home=")]
    assert x[1, home].sum() == 0.0  # unknown category: an all-zero one-hot row


def test_feature_names_flag_every_nullable_numeric_column(credit_model):
    names = credit_model.preprocessor.feature_names
    for col in NULLABLE_NUMERIC:
        assert f"{col}#null" in names
    assert "Age#null" not in names  # never null in the spec or in training: no indicator
    assert len(names) == credit_model.preprocessor.n_features


def test_long_tailed_money_columns_are_log_scaled(credit_split, credit_model):
    pre = credit_model.preprocessor
    assert {"Assets", "Debt"} <= set(pre.log_columns)  # skew ~10 in training
    assert "Age" not in pre.log_columns and "Time" not in pre.log_columns
    # A fortune far beyond training stays a few deviations out instead of dominating the first layer.
    rich = credit_split.test.head(1).copy()
    rich["Assets"] = 600_000.0
    x = pre.transform(rich)
    assert abs(x[0, pre.feature_names.index("Assets")]) < 10
    assert np.isfinite(credit_model.predict_proba(rich)).all()


def test_log_scale_is_decided_from_training_rows_only(credit_spec, credit_split):
    flat = credit_split.train.copy()
    flat["Assets"] = 5000.0 + np.arange(len(flat)) % 7  # no long tail any more
    pre = Preprocessor.fit(flat, credit_spec.schema)
    assert "Assets" not in pre.log_columns and "Debt" in pre.log_columns
    assert Preprocessor.fit(credit_split.train, credit_spec.schema, log_skewed=False).log_columns == []


def test_gradient_boosting_baseline_handles_nulls_natively(credit_spec, credit_split):
    base = train_baseline(credit_split, credit_spec.schema)
    assert base.test_metrics["auc"] > 0.8 and base.test_metrics["n"] == len(credit_split.test)
    frame = native_frame(credit_split.test, credit_spec.schema)
    assert frame["Income"].isna().any()  # nulls reach the trees as nulls, not as medians
    assert isinstance(frame["Home"].dtype, pd.CategoricalDtype)
    assert np.isfinite(base.predict_proba(_odd_rows(credit_split))).all()


def test_simple_baseline_on_credit(credit_spec, credit_split, tmp_path):
    sb = SimpleBaseline.fit(credit_split.train, credit_spec.schema, valid=credit_split.valid)
    assert "Income" in sb.features and "Home=owner" in sb.features and sb.feature_set == "plain"
    assert _auc(credit_spec, sb, credit_split.test) > 0.75
    loaded = SimpleBaseline.load(sb.save(tmp_path / "credit.baseline"))
    rows = _odd_rows(credit_split)
    np.testing.assert_allclose(loaded.predict_proba(rows), sb.predict_proba(rows))
    assert np.isfinite(loaded.predict_proba(rows)).all()


def test_bundle_saved_before_specs_still_loads(churn_df):
    """A churn bundle from before specs has no raw_numeric/feature_set/medians/log_columns keys."""
    split = split_frame(churn_df, CHURN_SCHEMA, seed=7)
    pre = Preprocessor.fit(split.train, CHURN_SCHEMA, n_bins=4, exclude=("state",), log_skewed=False)
    old = {k: v for k, v in pre.to_dict().items() if k not in ("raw_numeric", "feature_set", "medians", "log_columns")}
    loaded = Preprocessor.from_dict(old)
    assert loaded.feature_set == "churn" and loaded.log_columns == [] and loaded.raw_numeric == pre.raw_numeric
    np.testing.assert_array_equal(loaded.transform(split.test), pre.transform(split.test))


@pytest.mark.slow
def test_default_config_matches_gradient_boosting_on_credit(credit_spec, credit_split):
    """The quality bar of issue 11: test AUC within 0.01 of HistGradientBoosting on the same split."""
    config = TrainConfig(exclude_columns=tuple(credit_spec.exclude_from_training))
    model = train_model(credit_split, config, credit_spec.schema).model
    base = train_baseline(credit_split, credit_spec.schema, exclude=config.exclude_columns)
    ours = _auc(credit_spec, model, credit_split.test)
    assert ours >= base.test_metrics["auc"] - 0.01, (ours, base.test_metrics)
