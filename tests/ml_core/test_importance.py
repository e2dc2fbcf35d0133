"""Permutation importance: measured with the real trainer on a table where one column decides the label, stored
with the version by train_and_register, and measured and cached for versions saved without it."""

from __future__ import annotations

import json
from dataclasses import replace

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml_core.data.schema import Column, TableSchema
from ml_core.importance import IMPORTANCE_FILE, ImportanceError, permutation_importance
from ml_core.importance_store import load_importance, read_importance
from ml_core.jobs import TrainJobResult, train_and_register
from ml_core.paths import HomeLayout
from ml_core.registry import Registry, RegistryError
from ml_core.release import log_bundle, register_model_bundle
from ml_core.release_fault import Fault
from ml_core.training import TrainConfig

NAME = "toy"
SCHEMA = TableSchema(
    columns=(Column("signal", "numeric", -4.0, 4.0), Column("noise", "numeric", -4.0, 4.0),
             Column("colour", "categorical", categories=("red", "green", "blue")),
             Column("unused", "numeric", 0.0, 1.0)),
    label="y", positive_label="yes", negative_label="no")
FAST = TrainConfig(epochs=4, members=1, hidden=16, exclude_columns=("unused",))


def toy_table(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """``signal`` decides the label (its sign); ``noise`` and ``colour`` are drawn independently of it."""
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n).clip(-4, 4)
    return pd.DataFrame({"signal": signal, "noise": rng.normal(size=n).clip(-4, 4),
                         "colour": rng.choice(["red", "green", "blue"], size=n), "unused": rng.random(n),
                         "y": np.where(signal > 0, "yes", "no")})


class ColourScorer:
    """A model that reads only the categorical column: red rows are positives."""

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        return np.where(df["colour"].to_numpy() == "red", 0.9, 0.1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Registry, TrainJobResult, pd.DataFrame]:
    registry = Registry(HomeLayout(tmp_path_factory.mktemp("importance") / "home"))
    data = toy_table()
    job = train_and_register(registry, data, FAST, model_name=NAME, schema=SCHEMA, with_baseline=False)
    return registry, job, data


def test_the_column_that_decides_the_label_ranks_first_with_most_of_the_share(trained):
    _, job, _ = trained
    imp = job.importance
    assert imp is not None and imp.rows_from == "test split" and imp.n_rows == len(job.split.test)
    assert [f.rank for f in imp.features] == [1, 2, 3, 4] and imp.features[0].feature == "signal"
    assert imp.base_metric > 0.9 and imp.features[0].drop_mean > 0.3  # shuffled, the sign is a coin toss
    assert imp.share_of("signal") > 0.9
    assert imp.share_of("noise") < 0.05 and abs(imp.feature("noise").drop_mean) < 0.03
    assert imp.share_of("colour") < 0.05 and abs(imp.feature("colour").drop_mean) < 0.03
    unused = imp.feature("unused")  # excluded from training: the model never reads it
    assert unused.drop_mean == 0.0 and unused.drop_std == 0.0 and unused.share == 0.0
    assert sum(f.share for f in imp.features) == pytest.approx(1.0)


def test_stored_in_the_bundle_and_the_run_and_read_back(trained):
    registry, job, _ = trained
    bundle = registry.bundle_dir(NAME, job.version)
    assert (bundle / IMPORTANCE_FILE).exists()
    assert load_importance(registry, NAME, job.version, schema=SCHEMA) == job.importance
    assert job.importance.version == job.version
    run = registry.client.get_run(job.run_id)
    assert run.data.metrics["importance_seconds"] > 0
    logged = json.loads(mlflow.artifacts.load_text(f"runs:/{job.run_id}/{IMPORTANCE_FILE}"))
    assert logged["features"][0]["feature"] == "signal" and logged["n_rows"] == job.importance.n_rows


def test_deterministic_for_a_seed_and_categoricals_are_shuffled_too():
    data = toy_table(600)
    y = (data["colour"] == "red").astype(int).to_numpy()  # the scorer's own rule: perfect on these labels
    first = permutation_importance(ColourScorer(), data, y, SCHEMA, seed=3)
    assert first == permutation_importance(ColourScorer(), data, y, SCHEMA, seed=3)
    assert first.base_metric == 1.0 and first.features[0].feature == "colour"
    assert first.share_of("colour") == 1.0 and first.features[0].drop_mean > 0.4
    assert all(f.drop_mean == 0.0 for f in first.features[1:])  # columns the scorer never reads
    assert [f.feature for f in first.features[1:]] == ["noise", "signal", "unused"]  # ties ordered by name
    other = permutation_importance(ColourScorer(), data, y, SCHEMA, seed=4)
    assert other.features[0].drop_mean != first.features[0].drop_mean  # other shuffles


def test_sampling_to_max_rows_keeps_both_classes():
    data = toy_table(3000)
    y = np.zeros(len(data), dtype=int)
    y[:6] = 1  # 0.2 % positives: an unstratified 200-row sample would often hold none
    imp = permutation_importance(ColourScorer(), data, y, SCHEMA, max_rows=200, metric="log_loss", seed=1)
    assert imp.n_rows == 200 and imp.metric == "log_loss"
    imp_auc = permutation_importance(ColourScorer(), data, y, SCHEMA, max_rows=200, seed=1)
    assert imp_auc.n_rows == 200 and 0.0 <= imp_auc.base_metric <= 1.0


@pytest.mark.parametrize("labels, message", [
    (np.array(["yes", "no"] * 50), "labels must be 0/1"),
    (np.array([0, 2] * 50), "labels must be 0 or 1"),
    (np.zeros(100, dtype=int), "all 100 rows have the same label"),
    (np.zeros(7, dtype=int), "7 labels for 100 rows"),
])
def test_bad_labels_say_what_to_do(labels, message):
    with pytest.raises(ImportanceError, match=message):
        permutation_importance(ColourScorer(), toy_table(100), labels, SCHEMA)


def test_a_derived_release_reads_its_parents_importance(trained):
    registry, job, _ = trained
    model = registry.load(NAME, job.version)
    hotfix = register_model_bundle(registry, NAME, replace(model, threshold=0.3),
                                   tags={"parent_version": job.version})
    found = load_importance(registry, NAME, hotfix.version, schema=SCHEMA)
    assert found == job.importance and found.version == job.version  # measured on the weights they share
    assert not (registry.bundle_dir(NAME, hotfix.version) / IMPORTANCE_FILE).exists()


def _legacy_version(registry: Registry, job: TrainJobResult) -> str:
    """A version registered as train_and_register did before importance existed: bundle and training rows."""
    with mlflow.start_run(experiment_id=registry.experiment_id()):
        uri = log_bundle(job.train.model, reference=job.split.train)
    return registry.register(NAME, uri, {"parent_version": job.version}).version


def test_a_version_without_one_is_measured_on_its_reference_and_cached(trained):
    registry, job, _ = trained
    legacy = _legacy_version(registry, job)
    cached = registry.bundle_dir(NAME, legacy) / IMPORTANCE_FILE
    assert not cached.exists()
    found = load_importance(registry, NAME, legacy, schema=SCHEMA)
    # its own training rows end the walk: the parent_version tag (the champion it replaced) is another model
    assert found.rows_from == "reference" and found.version == legacy and found != job.importance
    assert found.n_rows == len(job.split.train) and found.features[0].feature == "signal"
    assert read_importance(cached.parent) == found
    stamp = cached.stat().st_mtime_ns
    assert load_importance(registry, NAME, legacy, schema=SCHEMA) == found and cached.stat().st_mtime_ns == stamp
    cached.write_text("{not json")  # a broken cache is measured again, not trusted or fatal
    assert load_importance(registry, NAME, legacy, schema=SCHEMA) == found


def test_a_fault_release_is_measured_without_its_fault(trained):
    registry, job, _ = trained
    legacy = _legacy_version(registry, job)
    broken = replace(registry.load(NAME, legacy), fault=Fault(error_rate=1.0))
    release = register_model_bundle(registry, NAME, broken, tags={"parent_version": legacy})
    found = load_importance(registry, NAME, release.version, schema=SCHEMA)  # scoring would always raise
    assert found.version == release.version and found.rows_from == "reference"
    assert found.features[0].feature == "signal" and found.n_rows == len(job.split.train)


def test_a_version_with_no_rows_at_all_needs_a_fallback(trained):
    registry, job, data = trained
    orphan = register_model_bundle(registry, NAME, registry.load(NAME, job.version)).version
    with pytest.raises(RegistryError, match="no training rows saved with it"):
        load_importance(registry, NAME, orphan, schema=SCHEMA)
    found = load_importance(registry, NAME, orphan, schema=SCHEMA, fallback=lambda: data)
    assert found.rows_from == "spec data (training split)" and found.n_rows == 1500


def test_an_adopted_version_is_measured_on_its_data(tmp_path):
    from ml_core.adoption import adopt_version
    from ml_core.data.tables import load_table
    from ml_core.spec.infer import infer_spec
    from tests.ml_core.adopt_support import ID, LABEL, POSITIVE, other_store

    other = other_store()
    spec = infer_spec(other.data, "credit-risk", label=LABEL, positive=POSITIVE, id_column=ID, source="adopted",
                      trainable=False).spec
    registry = Registry(HomeLayout(tmp_path / "home"))
    validated = load_table(other.csv, spec.schema).clean
    version = adopt_version(registry, "credit-risk", other.logistic_uri, schema=spec.schema,
                            tracking_uri=other.tracking_uri, data=validated).version.version
    found = load_importance(registry, "credit-risk", version, schema=spec.schema)
    assert found.rows_from == "reference" and found.n_rows == 2000 and found.base_metric > 0.75
    assert sum(f.share for f in found.features) == pytest.approx(1.0) and found.features[0].drop_mean > 0.01
    assert read_importance(registry.bundle_dir("credit-risk", version)) == found
