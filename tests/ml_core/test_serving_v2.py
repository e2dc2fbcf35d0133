"""The Open Inference Protocol v2 endpoints, driven by an independent client (NVIDIA's tritonclient) over real HTTP.

The v2 path shares /predict's validation, routing, fallback and prediction log, so the same rows must get the
same scores from both, and both requests must land in the log.
"""

from __future__ import annotations

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from test_serving_support import BROKEN, GOOD, GOOD2, MODEL, base_home, serve
from tritonclient.utils import InferenceServerException

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.serving.state import DeploymentState

NP_TYPES = {"BYTES": np.object_, "INT64": np.int64, "FP64": np.float64}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> HomeLayout:
    return base_home().copy_to(tmp_path_factory.mktemp("serving-v2") / "home")


@pytest.fixture(scope="module")
def champion_canary(home: HomeLayout):
    """Champion GOOD and a canary GOOD2 at weight 0, so routed requests go to the champion."""
    with serve(home, DeploymentState(model=MODEL, champion=GOOD, canary=GOOD2, canary_weight=0.0)) as (srv, client, _):
        yield srv, client


@pytest.fixture(scope="module")
def v2(champion_canary) -> triton.InferenceServerClient:
    srv, _ = champion_canary
    client = triton.InferenceServerClient(url=srv.url.removeprefix("http://"), network_timeout=30.0)
    yield client
    client.close()


def tensors(records: list[dict], binary: bool) -> list[triton.InferInput]:
    """One InferInput per feature column, typed as the model's metadata says."""
    out = []
    for c in CHURN_SCHEMA.columns:
        dtype = "BYTES" if c.kind == "categorical" else "INT64" if c.kind == "integer" else "FP64"
        arr: np.ndarray = np.array([r[c.name] for r in records], dtype=NP_TYPES[dtype])
        t = triton.InferInput(c.name, [len(records)], dtype)
        t.set_data_from_numpy(arr, binary_data=binary)
        out.append(t)
    return out


def test_server_and_model_health_and_metadata(v2: triton.InferenceServerClient) -> None:
    assert v2.is_server_live() and v2.is_server_ready()
    assert v2.is_model_ready(MODEL) and v2.is_model_ready(MODEL, GOOD2)
    assert not v2.is_model_ready(MODEL, "99")
    meta = v2.get_model_metadata(MODEL)
    assert meta["name"] == MODEL and meta["versions"] == [GOOD, GOOD2] and meta["platform"] == "pytorch"
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"][:3]] == [
        ("state", "BYTES", [-1]), ("account_length", "INT64", [-1]), ("area_code", "BYTES", [-1])]
    assert [t["name"] for t in meta["inputs"]] == CHURN_SCHEMA.feature_names
    assert [(t["name"], t["datatype"]) for t in meta["outputs"]] == [
        ("probability", "FP64"), ("label", "INT64"), ("error", "BYTES")]
    assert v2.get_server_metadata()["name"] == "opsagent"


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_infer_gives_the_scores_predict_gives(home: HomeLayout, champion_canary, v2, binary: bool) -> None:
    _, client = champion_canary
    records = base_home().records(20, start=40)
    result = v2.infer(MODEL, tensors(records, binary), request_id=f"req-{binary}")
    predicted = client.post("/predict", json={"records": records}).json()["predictions"]
    np.testing.assert_allclose(result.as_numpy("probability"), [p["score"] for p in predicted], rtol=0, atol=1e-12)
    assert result.as_numpy("label").tolist() == [p["label"] for p in predicted]
    assert result.as_numpy("error").tolist() == [""] * 20
    np.testing.assert_allclose(result.as_numpy("probability"), base_home().model.predict_proba(
        base_home().data.iloc[40:60]), atol=1e-5)
    resp = result.get_response()
    assert (resp["model_name"], resp["model_version"], resp["id"]) == (MODEL, GOOD, f"req-{binary}")
    params = resp["parameters"]
    assert (params["version"], params["role"], params["fallback"], params["accepted"], params["rejected"]) == (
        GOOD, "champion", False, 20, 0)
    log = PredictionLog(home.predictions_db(MODEL)).predictions()
    mine = log[log.request_id == params["request_id"]]
    assert mine.record_id.isna().all()  # no id tensor was sent
    assert mine.version.unique().tolist() == [GOOD] and len(mine) == 20


def test_a_pinned_version_answers_under_its_role(v2: triton.InferenceServerClient) -> None:
    records = base_home().records(5, start=7)
    result = v2.infer(MODEL, tensors(records, True), model_version=GOOD2)
    resp = result.get_response()
    assert resp["model_version"] == GOOD2 and resp["parameters"]["role"] == "canary"
    # GOOD2 is GOOD with a higher threshold: same scores, labels at its own threshold
    np.testing.assert_allclose(result.as_numpy("probability"), base_home().model.predict_proba(
        base_home().data.iloc[7:12]), atol=1e-5)
    with pytest.raises(InferenceServerException, match="version 99 of 'churn' is not served"):
        v2.infer(MODEL, tensors(records, True), model_version="99")


def test_unknown_model_is_a_404_in_the_v2_error_shape(champion_canary, v2) -> None:
    _, client = champion_canary
    r = client.post("/v2/models/fraud/infer", json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP64",
                                                                "data": [1.0]}]})
    assert r.status_code == 404
    assert r.json() == {"error": "model 'fraud' is not served here; this service serves 'churn'"}
    assert client.get("/v2/models/fraud").status_code == 404
    with pytest.raises(InferenceServerException, match="not served here"):
        v2.get_model_metadata("fraud")


def _json_inputs(records: list[dict]) -> list[dict]:
    return [{"name": c.name, "shape": [len(records)], "datatype": "BYTES" if c.kind == "categorical" else "FP64",
             "data": [r[c.name] for r in records]} for c in CHURN_SCHEMA.columns]


def test_a_bad_record_costs_its_row_only_and_is_logged(home: HomeLayout, champion_canary) -> None:
    _, client = champion_canary
    records = base_home().records(4, start=100)
    records[2] = {**records[2], "total_day_minutes": None, "state": "Atlantis"}
    inputs = _json_inputs(records) + [{"name": "customer_id", "shape": [4], "datatype": "BYTES",
                                       "data": [r["customer_id"] for r in records]}]
    r = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    out = {o["name"]: o for o in r.json()["outputs"]}
    assert out["probability"]["shape"] == [4] and out["probability"]["data"][2] is None
    assert out["label"]["data"][2] == -1 and all(x in (0, 1) for i, x in enumerate(out["label"]["data"]) if i != 2)
    assert out["error"]["data"][2].startswith("state: unknown_category") and "total_day_minutes: null" in \
        out["error"]["data"][2]
    assert [e for i, e in enumerate(out["error"]["data"]) if i != 2] == ["", "", ""]
    params = r.json()["parameters"]
    assert (params["accepted"], params["rejected"]) == (3, 1)
    log = PredictionLog(home.predictions_db(MODEL))
    scored = log.predictions()
    assert sorted(scored[scored.request_id == params["request_id"]].record_id) == sorted(
        records[i]["customer_id"] for i in (0, 1, 3))
    rej = log.rejections()
    assert rej[rej.request_id == params["request_id"]].rows.tolist() == [1]


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t[0].update(datatype="FP64", data=[1.0, 2.0]), "input 'state' is categorical: send datatype BYTES"),
    (lambda t: t[6].update(shape=[2, 2]), "send one column per feature, shape [n] or [n, 1]"),
    (lambda t: t[6].update(data=[1.0]), "has shape [2] but 1 values"),
    (lambda t: t.pop(5), "missing input tensor(s) number_vmail_messages"),
    (lambda t: t[6].update(data=None), "has neither data nor binary_data_size"),
])
def test_malformed_tensors_get_a_400_that_says_what_to_fix(champion_canary, change, message: str) -> None:
    _, client = champion_canary
    inputs = _json_inputs(base_home().records(2))
    change(inputs)
    r = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": inputs})
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_every_record_invalid_is_a_400_listing_the_errors(champion_canary) -> None:
    _, client = champion_canary
    records = [{**r, "total_day_minutes": None} for r in base_home().records(2)]
    r = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": _json_inputs(records)})
    assert r.status_code == 400
    body = r.json()
    assert body["error"].startswith("all 2 record(s) invalid")
    assert [(e["index"], e["field"], e["problem"]) for e in body["errors"]] == [
        (0, "total_day_minutes", "null"), (1, "total_day_minutes", "null")]
    assert client.post(f"/v2/models/{MODEL}/infer", content=b"{not json").status_code == 400


def test_a_broken_champion_falls_back_on_the_v2_path_too(home: HomeLayout) -> None:
    state = DeploymentState(model=MODEL, champion=BROKEN, previous_champion=GOOD)
    with serve(home, state) as (_, client, _):
        r = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": _json_inputs(base_home().records(3))})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["model_version"] == body["parameters"]["version"] == GOOD
        assert body["parameters"]["role"] == "fallback"
        assert body["parameters"]["fallback"] is True and body["parameters"]["fallback_reason"].startswith("error")


def test_v2_health_is_400_until_a_champion_is_loaded(home: HomeLayout) -> None:
    with serve(home, DeploymentState(model=MODEL), wait_ready=False) as (_, client, _):
        assert client.get("/v2/health/live").json() == {"live": True}
        r = httpx.get(str(client.base_url) + "/v2/health/ready")
        assert r.status_code == 400 and r.json()["ready"] is False
        assert client.get(f"/v2/models/{MODEL}/ready").status_code == 400
