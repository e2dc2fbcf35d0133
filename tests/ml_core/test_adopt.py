"""Adopting models trained elsewhere: scikit-learn pipelines logged by plain MLflow code into another tracking
store, copied into opsagent's registry, scored, served (a real service process), canaried and watched."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import httpx
import mlflow
import numpy as np
import pandas as pd
import pytest

from ml_core.adopted import (
    FAULT_TAG,
    KIND_TAG,
    SOURCE_TAG,
    THRESHOLD_TAG,
    AdoptedModel,
    AdoptError,
    check_probabilities,
    positive_probability,
)
from ml_core.adoption import adopt_version
from ml_core.data.tables import load_table
from ml_core.deploy.local import LocalBackend
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.registry import CHAMPION, Registry
from ml_core.release import register_model_bundle
from ml_core.release_fault import Fault
from ml_core.spec.infer import infer_spec
from ml_core.spec.model_spec import ModelSpec
from ml_core.spec.store import SpecStore
from ml_core.watch import check_window, load_reference
from tests.ml_core.adopt_support import ID, LABEL, POSITIVE, OtherStore, original_scores, other_store

NAME = "credit-risk"


@dataclass(frozen=True)
class AdoptedHome:
    layout: HomeLayout
    spec: ModelSpec
    other: OtherStore


@pytest.fixture(scope="module")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> AdoptedHome:
    """v1: the logistic pipeline (models:/ URI, with the data); v2: the boosted one (runs:/ URI, no data)."""
    other = other_store()
    layout = HomeLayout(tmp_path_factory.mktemp("adopt") / "home").ensure()
    spec = infer_spec(other.data, NAME, label=LABEL, positive=POSITIVE, id_column=ID, source="adopted",
                      trainable=False).spec
    SpecStore(layout).save(spec)
    registry = Registry(layout)
    validated = load_table(other.csv, spec.schema).clean  # as the CLI reads --data: text nulls are pandas' NA
    first = adopt_version(registry, NAME, other.logistic_uri, schema=spec.schema, tracking_uri=other.tracking_uri,
                          data=validated)
    second = adopt_version(registry, NAME, other.boosted_uri, schema=spec.schema, tracking_uri=other.tracking_uri)
    assert (first.version.version, second.version.version) == ("1", "2")
    return AdoptedHome(layout, spec, other)


def test_adopted_versions_are_tagged_copies_in_opsagents_own_store(adopted: AdoptedHome) -> None:
    registry = Registry(adopted.layout)
    v1, v2 = registry.versions(NAME)
    assert v1.tags[KIND_TAG] == v2.tags[KIND_TAG] == "adopted"
    assert (v1.tags[SOURCE_TAG], v2.tags[SOURCE_TAG]) == (adopted.other.logistic_uri, adopted.other.boosted_uri)
    assert v1.ready_for_deploy and v2.ready_for_deploy
    for v in (v1, v2):  # the artifacts live under opsagent's home, not the other team's store
        source = registry.client.get_model_version(NAME, v.version).source
        assert source.startswith(adopted.layout.mlflow_artifacts.as_uri()), source
    # with data: an F1-tuned threshold and metrics on that data; without: the default 0.5 and none
    assert 0.05 <= float(v1.tags[THRESHOLD_TAG]) <= 0.95 and 0.3 < v1.test_metrics["f1"] < 1
    assert v2.tags[THRESHOLD_TAG] == "0.5000" and v2.test_metrics == {}


def test_registry_load_scores_exactly_like_the_original_pipelines(adopted: AdoptedHome) -> None:
    registry, other = Registry(adopted.layout), adopted.other
    with_nulls = other.data[other.data.isna().any(axis=1)].head(20)
    rows = pd.concat([other.data.head(30), with_nulls])
    for version, pipeline in (("1", other.logistic), ("2", other.boosted)):
        model = registry.load(NAME, version)
        assert isinstance(model, AdoptedModel) and model.fault is None and model.meta["kind"] == "adopted"
        np.testing.assert_allclose(model.predict_proba(rows), original_scores(pipeline, rows), rtol=0, atol=1e-12)
        assert set(np.unique(model.predict(rows))) <= {0, 1}
    assert registry.load(NAME, "1").threshold == pytest.approx(float(registry.version(NAME, "1").tags[THRESHOLD_TAG]))


def test_the_data_is_the_versions_monitoring_reference(adopted: AdoptedHome) -> None:
    registry = Registry(adopted.layout)
    ref = load_reference(registry, NAME, adopted.spec.schema, version="1")
    assert len(ref.frame) == len(adopted.other.data) and ref.scores.shape == (len(ref.frame),)
    assert ref.labels.sum() == (adopted.other.data[LABEL] == POSITIVE).sum()
    assert ref.model.threshold == registry.load(NAME, "1").threshold


def test_the_scoring_service_serves_logs_and_canaries_adopted_versions(adopted: AdoptedHome) -> None:
    other, layout = adopted.other, adopted.layout
    backend = LocalBackend(layout, NAME, Registry(layout), seed=0, latency_budget_ms=10_000)
    try:
        status = backend.start("1")
        assert status.ready and status.champion == "1", status
        records = other.records(8, start=25)  # row 29 has null Home, Job, Income, Assets and Debt
        started = time.time()
        with httpx.Client(base_url=status.url, timeout=60) as client:
            body = client.post("/predict", json={"records": records}).json()
            scores = [p["score"] for p in body["predictions"]]
            assert {p["version"] for p in body["predictions"]} == {"1"}
            assert not any(p["fallback"] for p in body["predictions"])
            np.testing.assert_allclose(scores, original_scores(other.logistic, other.data.iloc[25:33]), atol=1e-9)

            status = backend.deploy_canary("2", 0.5)
            assert status.ready and status.canary == "2", status
            served = [client.post("/predict", json={"records": other.records(1, start=i)}).json()["predictions"][0]
                      for i in range(40)]
        assert {p["version"] for p in served} == {"1", "2"}
        assert all(p["role"] == ("canary" if p["version"] == "2" else "champion") for p in served)
    finally:
        backend.stop()
    with PredictionLog(layout.predictions_db(NAME)) as log:
        logged = log.predictions(started - 1, time.time() + 1)
    assert len(logged) == 48 and set(logged["version"]) == {"1", "2"}
    assert set(logged["record_id"].head(8)) == {r[ID] for r in records}
    # a scheduled tick's check runs on the adopted champion's traffic and reference
    assert Registry(layout).alias(NAME, CHAMPION).version == "1"
    watched = check_window(layout, Registry(layout), NAME, since=started - 1, until=time.time() + 1,
                           write_report=False, schema=adopted.spec.schema)
    assert watched.version == "1" and watched.result is not None


def test_threshold_hotfix_and_fault_release_of_an_adopted_version(adopted: AdoptedHome) -> None:
    registry, rows = Registry(adopted.layout), adopted.other.data.head(50)
    model = registry.load(NAME, "1")
    assert isinstance(model, AdoptedModel)
    hotfix = copy.copy(model)
    hotfix.threshold = 0.8
    info = register_model_bundle(registry, NAME, hotfix, {"parent_version": "1"}, run_name="threshold")
    assert info.tags[KIND_TAG] == "adopted" and info.tags[THRESHOLD_TAG] == "0.8000"
    again = registry.load(NAME, info.version)
    assert again.threshold == 0.8 and np.allclose(again.predict_proba(rows), model.predict_proba(rows))
    assert len(load_reference(registry, NAME, adopted.spec.schema, version=info.version).frame) == len(
        adopted.other.data)  # the reference is found through parent_version

    broken = copy.copy(model)
    broken.fault = Fault(error_rate=1.0, after_calls=1)
    info = register_model_bundle(registry, NAME, broken, {"parent_version": "1"}, run_name="broken")
    assert info.tags["fault"] == "0ms/1" and FAULT_TAG in info.tags
    loaded = registry.load(NAME, info.version)
    assert loaded.fault == Fault(error_rate=1.0, after_calls=1)
    loaded.predict_proba(rows)  # healthy for its first call, like a bad release that passes readiness
    with pytest.raises(RuntimeError, match="injected fault"):
        loaded.predict_proba(rows)


def test_models_that_cannot_be_adopted_are_refused_with_the_reason(adopted: AdoptedHome) -> None:
    registry, other, schema = Registry(adopted.layout), adopted.other, adopted.spec.schema
    before = registry.versions(NAME)
    mlflow.set_tracking_uri("sqlite:///elsewhere.db")  # someone else's global setting, which adopting restores
    with pytest.raises(AdoptError, match="cannot read model 'models:/no-such-model/3'"):
        adopt_version(registry, NAME, "models:/no-such-model/3", schema=schema, tracking_uri=other.tracking_uri)
    with pytest.raises(AdoptError, match="class labels, not probabilities"):
        adopt_version(registry, NAME, other.labels_uri, schema=schema, tracking_uri=other.tracking_uri,
                      data=other.data)
    with pytest.raises(AdoptError, match="class labels"):  # without data: two rows, but integer output
        adopt_version(registry, NAME, other.labels_uri, schema=schema, tracking_uri=other.tracking_uri)
    assert mlflow.get_tracking_uri() == "sqlite:///elsewhere.db"
    narrow = infer_spec(other.data.drop(columns=["Income"]), NAME, label=LABEL, positive=POSITIVE, id_column=ID)
    with pytest.raises(AdoptError, match="needs column.*Income"):
        adopt_version(registry, NAME, other.logistic_uri, schema=narrow.spec.schema, tracking_uri=other.tracking_uri)
    with pytest.raises(AdoptError, match="is not an MLflow model"):
        adopt_version(registry, NAME, str(other.csv.parent), schema=schema)
    assert registry.versions(NAME) == before  # nothing was registered


@pytest.mark.parametrize("output, column, expected", [
    (np.array([0.1, 0.7]), None, [0.1, 0.7]),
    (np.array([[0.9, 0.1], [0.3, 0.7]]), None, [0.1, 0.7]),
    (pd.DataFrame({"label": [0, 1], "probability": [0.1, 0.7]}), None, [0.1, 0.7]),
    (pd.DataFrame({"p_no": [0.9, 0.3], "p_yes": [0.1, 0.7]}), None, [0.1, 0.7]),
    (pd.DataFrame({"score": [0.1, 0.7], "label": [0, 1]}), "score", [0.1, 0.7]),
])
def test_the_probability_is_read_from_each_output_layout(output, column, expected) -> None:
    np.testing.assert_allclose(positive_probability(output, column), expected)


def test_an_output_of_another_shape_is_an_error() -> None:
    with pytest.raises(AdoptError, match="no column 'score'"):
        positive_probability(pd.DataFrame({"probability": [0.2]}), "score")
    with pytest.raises(AdoptError, match=r"shape \(2, 3\)"):
        positive_probability(np.zeros((2, 3)))
    with pytest.raises(AdoptError, match=r"ranges 0.2..3.5, not a probability"):
        check_probabilities(np.array([0.2, 3.5]), None, 2)
    with pytest.raises(AdoptError, match="NaN or infinite"):
        check_probabilities(pd.DataFrame({"probability": [0.2, np.nan]}), None, 2)
    check_probabilities(np.array([[0.8, 0.2], [0.4, 0.6]]), None, 2)  # predict_proba's layout is fine
