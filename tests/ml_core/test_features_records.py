"""The scoring service's numpy transform gives exactly the training transform's features (and scores)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from ml_core.features import Preprocessor
from ml_core.features_records import transform_records
from ml_core.model import TabularModel, build_net
from ml_core.spec.builtin import builtin_spec
from ml_core.spec.data import load_spec_data


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as the validator hands them over: a missing value is None, never NaN."""
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]


@pytest.fixture(scope="module", params=["churn", "credit"])
def table(request):
    spec = builtin_spec(request.param)
    assert spec is not None
    df = load_spec_data(spec)
    return spec.schema, df[spec.schema.feature_names]


@pytest.mark.parametrize("n_bins", [0, 8])
def test_records_give_the_dataframe_features_to_the_bit(table, n_bins: int) -> None:
    schema, features = table
    pre = Preprocessor.fit(features, schema, n_bins=n_bins)
    fast = transform_records(pre, _records(features))
    assert fast is not None
    assert fast.dtype == np.float32
    np.testing.assert_array_equal(fast, pre.transform(features))


def test_nulls_and_unknown_categories_are_treated_alike(table) -> None:
    schema, features = table
    pre = Preprocessor.fit(features, schema, n_bins=4)
    rows = features.head(40).copy()
    nullable = [c.name for c in schema.columns if c.kind != "categorical" and c.name in pre.medians]
    for i, name in enumerate(nullable):
        rows.iloc[i, rows.columns.get_loc(name)] = np.nan  # a gap the median fills, with its #null indicator
    for i, name in enumerate(schema.categorical_names):
        rows[name] = rows[name].astype(object)
        rows.iloc[10 + i, rows.columns.get_loc(name)] = "never-seen"  # an all-zero one-hot row
        rows.iloc[20 + i, rows.columns.get_loc(name)] = None
    fast = transform_records(pre, _records(rows))
    assert fast is not None
    np.testing.assert_array_equal(fast, pre.transform(rows))


def test_model_scores_records_as_it_scores_a_dataframe(table) -> None:
    schema, features = table
    torch.manual_seed(0)
    pre = Preprocessor.fit(features, schema, n_bins=4)
    model = TabularModel(pre, build_net(pre.n_features, members=3, hidden=16, depth=2, dropout=0.1),
                         {"members": 3, "hidden": 16, "depth": 2, "dropout": 0.1}, calibration=(1.3, -0.2))
    head = features.head(64)
    # the features are equal to the bit (above); the serving forward is the folded numpy net, so the scores agree
    # to float32 rounding (ml_core/fused_forward.py), not to the bit
    np.testing.assert_allclose(model.predict_proba_records(_records(head)), model.predict_proba(head), rtol=0,
                               atol=1e-6)


def test_a_feature_set_without_an_array_version_takes_the_dataframe_path(table) -> None:
    schema, features = table
    pre = Preprocessor.fit(features, schema)
    pre.feature_set = "someone-elses"
    assert transform_records(pre, _records(features.head(3))) is None
