"""The trainer and the model bundle: seeding, early stopping, class weights, devices, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_core.baseline import SimpleBaseline, train_baseline
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import Split, split_frame
from ml_core.evaluation import classification_metrics
from ml_core.features import Preprocessor
from ml_core.model import TabularEnsemble, TabularModel, TabularNet
from ml_core.training import TrainConfig, resolve_device, train_model

FAST = {"epochs": 3, "members": 1, "hidden": 16}


@pytest.fixture(scope="module")
def split(churn_df) -> Split:
    return split_frame(churn_df, CHURN_SCHEMA, seed=7)


@pytest.fixture(scope="module")
def small(split) -> Split:
    """A quarter of the data: enough for mechanics, quick to train on."""
    return Split(split.train.head(800), split.valid.head(300), split.test.head(300))


def _test_metrics(model, split: Split) -> dict[str, float]:
    y = CHURN_SCHEMA.labels_to_int(split.test[CHURN_SCHEMA.label]).to_numpy()
    return classification_metrics(y, model.predict_proba(split.test), model.threshold)


def test_same_seed_same_model(small):
    a = train_model(small, TrainConfig(**FAST, seed=3), CHURN_SCHEMA)
    b = train_model(small, TrainConfig(**FAST, seed=3), CHURN_SCHEMA)
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]
    np.testing.assert_array_equal(a.model.predict_proba(small.test), b.model.predict_proba(small.test))
    assert _test_metrics(a.model, small) == _test_metrics(b.model, small)
    c = train_model(small, TrainConfig(**FAST, seed=4), CHURN_SCHEMA)
    assert not np.array_equal(a.model.predict_proba(small.test), c.model.predict_proba(small.test))


def test_history_rows_and_callback(small):
    seen: list[tuple[int, int]] = []
    res = train_model(small, TrainConfig(**FAST), CHURN_SCHEMA, on_epoch=lambda e, t, row: seen.append((e, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert set(res.history[0]) == {"epoch", "train_loss", "val_loss", "val_auc"}
    assert res.device == "cpu" and res.samples_per_second > 0
    assert 1 <= res.best_epoch <= 3 and res.model.meta["best_epoch"] == res.best_epoch


def test_early_stopping_triggers(small):
    # a huge learning rate overfits at once, so validation loss stops improving within patience
    res = train_model(small, TrainConfig(epochs=60, patience=2, lr=0.05, members=1, hidden=16), CHURN_SCHEMA)
    assert res.stopped_early
    assert len(res.history) < 60
    assert len(res.history) - res.best_epoch == 2


def test_class_imbalance_weight_applied(small, monkeypatch):
    seen: list[float] = []
    original = torch.nn.BCEWithLogitsLoss.__init__

    def spy(self, *args, pos_weight=None, **kwargs):
        seen.append(float(pos_weight) if pos_weight is not None else 1.0)
        original(self, *args, pos_weight=pos_weight, **kwargs)

    monkeypatch.setattr(torch.nn.BCEWithLogitsLoss, "__init__", spy)
    train_model(small, TrainConfig(**{**FAST, "epochs": 1}), CHURN_SCHEMA)
    y = CHURN_SCHEMA.labels_to_int(small.train[CHURN_SCHEMA.label])
    assert seen == [pytest.approx((len(y) - y.sum()) / y.sum())]
    assert seen[0] > 3  # churners are the minority
    train_model(small, TrainConfig(**{**FAST, "epochs": 1}, pos_weight=1.0), CHURN_SCHEMA)
    assert seen[-1] == 1.0


def test_devices(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")


def test_cuda_without_gpu_is_a_clear_error(small, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="use --device cpu or auto"):
        train_model(small, TrainConfig(**FAST, device="cuda"), CHURN_SCHEMA)


@pytest.mark.parametrize("members", [1, 2])
def test_bundle_round_trip_identical_predictions(small, tmp_path, members):
    res = train_model(small, TrainConfig(**{**FAST, "epochs": 2, "members": members}), CHURN_SCHEMA)
    assert isinstance(res.model.net, TabularNet if members == 1 else TabularEnsemble)
    res.model.save(tmp_path / "b")
    loaded = TabularModel.load(tmp_path / "b")
    np.testing.assert_array_equal(res.model.predict_proba(small.test), loaded.predict_proba(small.test))
    assert loaded.threshold == res.model.threshold and loaded.calibration == res.model.calibration
    assert loaded.preprocessor == res.model.preprocessor


def test_preprocessor_bins_exclusion_and_old_bundles(small):
    pre = Preprocessor.fit(small.train, CHURN_SCHEMA, n_bins=8, exclude=("state",))
    x = pre.transform(small.test)
    assert x.shape == (len(small.test), pre.n_features) == (len(small.test), len(pre.feature_names))
    assert not any(n.startswith("state") for n in pre.feature_names)
    assert np.isfinite(x).all()
    # A bundle saved before bins, exclusions and specs (raw columns, feature set, medians) existed still loads.
    fitted = Preprocessor.fit(small.train, CHURN_SCHEMA)
    old = {k: v for k, v in fitted.to_dict().items()
           if k not in ("bin_edges", "excluded", "raw_numeric", "feature_set", "medians")}
    assert Preprocessor.from_dict(old).transform(small.test).shape[1] == fitted.n_features


def test_simple_baseline_round_trip_and_fallback(split, tmp_path):
    sb = SimpleBaseline.fit(split.train, CHURN_SCHEMA, valid=split.valid)
    p = sb.predict_proba(split.test)
    assert p.shape == (len(split.test),) and 0.05 <= sb.threshold <= 0.95
    assert _test_metrics(sb, split)["auc"] > 0.8
    loaded = SimpleBaseline.load(sb.save(tmp_path / "simple.json"))
    np.testing.assert_allclose(loaded.predict_proba(split.test), p)
    assert loaded.threshold == sb.threshold
    # last resort: with every input column missing it still answers, with the class prior
    blank = loaded.predict_proba(split.test[["customer_id"]])
    assert np.isfinite(blank).all() and np.allclose(blank, blank[0])


def test_gradient_boosting_baseline(small):
    base = train_baseline(small, CHURN_SCHEMA)
    assert base.test_metrics["auc"] > 0.8 and base.test_metrics["n"] == len(small.test)
    assert base.predict_proba(small.test).shape == (len(small.test),)


@pytest.mark.slow
def test_default_config_matches_gradient_boosting(split):
    """The quality bar: test AUC within 0.01 of gradient boosting on the same split, and F1 >= 0.80."""
    model = train_model(split, TrainConfig(), CHURN_SCHEMA).model
    ours = _test_metrics(model, split)
    base = train_baseline(split, CHURN_SCHEMA).test_metrics
    assert ours["auc"] >= base["auc"] - 0.01, (ours, base)
    assert ours["f1"] >= 0.80, ours
