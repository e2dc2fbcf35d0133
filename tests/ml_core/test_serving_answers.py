"""The scoring service's answers, pinned byte for byte: the fast paths must not change what a client reads.

Each request is sent alone, so the service scores exactly its valid records in one forward pass, and the scores
are those of ``TabularModel.predict_proba_records`` on those records (itself held to the DataFrame transform by
``test_features_records``). The expected bodies are written out here in the documented field order, so a change
of a value, a key, an error text or the order of keys fails.
"""

from __future__ import annotations

import httpx
import numpy as np
import orjson
import pytest
from test_serving_support import GOOD, MODEL, base_home, serve

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.paths import HomeLayout
from ml_core.serving.state import DeploymentState

V2_TYPES = {"categorical": "BYTES", "integer": "INT64", "numeric": "FP64"}
STATES = "AK, AL, AR, AZ, CA, CO…"  # the first six of the spec's categories, as the error detail lists them


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    home: HomeLayout = base_home().copy_to(tmp_path_factory.mktemp("serving-answers") / "home")
    with serve(home, DeploymentState(model=MODEL, champion=GOOD)) as (_, client, _):
        yield client


def mixed_batch() -> tuple[list[dict], list[int]]:
    """Six records: four valid (one with an integer id, one without an id, one with an extra field) and two bad."""
    recs = base_home().records(6, start=40)
    recs[1]["customer_id"] = 1234
    del recs[2]["customer_id"]
    recs[3]["churn"] = "yes"  # ignored
    recs[4]["state"] = "Atlantis"
    recs[5]["total_day_minutes"], recs[5]["total_day_calls"] = None, 3.5
    return recs, [0, 1, 2, 3]


def expected_scores(records: list[dict]) -> tuple[list[float], list[int]]:
    model = base_home().model
    features = [{k: r[k] for k in CHURN_SCHEMA.feature_names} for r in records]
    scores = np.asarray(model.predict_proba_records(features), dtype=np.float64)
    return scores.tolist(), (scores >= model.threshold).astype(np.int64).tolist()


ERRORS = [
    {"index": 4, "field": "state", "problem": "unknown_category", "detail": f"'Atlantis'; allowed: {STATES}",
     "record_id": "c00044"},
    {"index": 5, "field": "total_day_minutes", "problem": "null", "detail": "value is null", "record_id": "c00045"},
    {"index": 5, "field": "total_day_calls", "problem": "wrong_type", "detail": "expected a whole number, got 3.5",
     "record_id": "c00045"},
]


def test_predict_answer_is_pinned(client: httpx.Client) -> None:
    recs, valid = mixed_batch()
    r = client.post("/predict", json={"records": recs})
    assert r.status_code == 200, r.text
    scores, labels = expected_scores([recs[i] for i in valid])
    ids = ["c00040", "1234", None, "c00043"]
    expected = {"request_id": r.json()["request_id"], "accepted": 4, "rejected": 2, "error_count": 3,
                "errors": ERRORS, "predictions": [
                    {"index": i, "record_id": rid, "score": s, "label": y, "version": GOOD, "role": "champion",
                     "fallback": False, "fallback_reason": None}
                    for i, rid, s, y in zip(valid, ids, scores, labels, strict=True)]}
    assert r.content == orjson.dumps(expected)


def v2_inputs(recs: list[dict], column_shape: bool = False) -> list[dict]:
    n = len(recs)
    return [{"name": c.name, "shape": [n, 1] if column_shape else [n], "datatype": V2_TYPES[c.kind],
             "data": [[r[c.name]] for r in recs] if column_shape else [r[c.name] for r in recs]}
            for c in CHURN_SCHEMA.columns]


@pytest.mark.parametrize("column_shape", [False, True])
def test_v2_answer_is_pinned(client: httpx.Client, column_shape: bool) -> None:
    recs, valid = mixed_batch()
    del recs[3]["churn"]
    recs[1]["customer_id"] = "c00041"
    recs[2]["customer_id"] = "c00042"
    ids = {"name": "customer_id", "shape": [6], "datatype": "BYTES", "data": [r["customer_id"] for r in recs]}
    body = {"id": "req-7", "inputs": [*v2_inputs(recs, column_shape), ids], "outputs": [{"name": "probability"},
                                                                                        {"name": "error"}]}
    r = client.post(f"/v2/models/{MODEL}/infer", json=body)
    assert r.status_code == 200, r.text
    scores, _ = expected_scores([recs[i] for i in valid])
    errors = ["", "", "", "", f"state: unknown_category ('Atlantis'; allowed: {STATES})",
              "total_day_minutes: null (value is null); total_day_calls: wrong_type (expected a whole number, got 3.5)"]
    expected = {"model_name": MODEL, "model_version": GOOD, "id": "req-7", "parameters": {
        "request_id": r.json()["parameters"]["request_id"], "version": GOOD, "role": "champion", "fallback": False,
        "accepted": 4, "rejected": 2}, "outputs": [
            {"name": "probability", "datatype": "FP64", "shape": [6], "data": [*scores, None, None]},
            {"name": "error", "datatype": "BYTES", "shape": [6], "data": errors}]}
    assert r.content == orjson.dumps(expected)


def test_v2_answer_without_outputs_named_lists_all_three(client: httpx.Client) -> None:
    recs = base_home().records(3, start=60)
    r = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": v2_inputs(recs)})
    assert r.status_code == 200, r.text
    scores, labels = expected_scores(recs)
    request_id = r.json()["parameters"]["request_id"]
    expected = {"model_name": MODEL, "model_version": GOOD, "id": request_id, "parameters": {
        "request_id": request_id, "version": GOOD, "role": "champion", "fallback": False, "accepted": 3,
        "rejected": 0}, "outputs": [
            {"name": "probability", "datatype": "FP64", "shape": [3], "data": scores},
            {"name": "label", "datatype": "INT64", "shape": [3], "data": labels},
            {"name": "error", "datatype": "BYTES", "shape": [3], "data": ["", "", ""]}]}
    assert r.content == orjson.dumps(expected)


# Bodies that are not v2 inference requests, and what the service has answered them since the v2 endpoint exists.
NOT_V2 = [
    (b"{}", "inputs: Field required"),
    (b'{"inputs": []}', "inputs: List should have at least 1 item after validation, not 0"),
    (b'{"inputs": 3}', "inputs: Input should be a valid array"),
    (b"[1]", "body: Input should be an object"),
    (b'{"inputs": [{"name": 5, "shape": [1], "datatype": "FP64", "data": [1]}]}',
     "inputs.0.name: Input should be a valid string"),
    (b'{"inputs": [{"shape": [1], "datatype": "FP64", "data": 1}]}',
     "inputs.0.name: Field required; inputs.0.data: Input should be a valid array"),
    (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1], "parameters": {"x": [1]}}]}',
     "inputs.0.parameters.x.str: Input should be a valid string; inputs.0.parameters.x.int: Input should be a "
     "valid integer; inputs.0.parameters.x.float: Input should be a valid number; inputs.0.parameters.x.bool: "
     "Input should be a valid boolean"),
    (b'{"id": 5, "inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], "outputs": [{}]}',
     "id: Input should be a valid string; outputs.0.name: Field required"),
    (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP64"',
     "body: Invalid JSON: EOF while parsing an object at line 1 column 58"),
]


@pytest.mark.parametrize(("raw", "message"), NOT_V2)
def test_a_body_that_is_not_a_v2_request_gets_the_same_400(client: httpx.Client, raw: bytes, message: str) -> None:
    r = client.post(f"/v2/models/{MODEL}/infer", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json() == {"error": f"not a v2 inference request: {message}"}


def test_lax_shapes_are_still_read_as_numbers(client: httpx.Client) -> None:
    """pydantic's lax mode has always read "2", 2.0 and true as shape entries; clients that rely on it still work."""
    recs = base_home().records(2, start=70)
    inputs = v2_inputs(recs)
    inputs[0]["shape"], inputs[1]["shape"] = ["2"], [2.0]
    r = client.post(f"/v2/models/{MODEL}/infer", json={"inputs": inputs, "outputs": [{"name": "probability"}]})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"][0]["data"] == expected_scores(recs)[0]



def test_the_scoring_paths_are_served_by_plain_routes_first_and_still_described(client: httpx.Client,
                                                                                tmp_path) -> None:
    from starlette.routing import Route

    from ml_core.serving.app import create_app

    app = create_app(base_home().copy_to(tmp_path / "home"), MODEL, autoload=False)
    first = [(type(r), r.path) for r in app.router.routes[:2]]
    assert first == [(Route, f"/v2/models/{MODEL}/infer"), (Route, "/predict")]  # plain Starlette, before FastAPI's
    doc = client.get("/openapi.json").json()["paths"]
    assert "post" in doc["/predict"] and "post" in doc["/v2/models/{model}/infer"]  # the FastAPI routes describe them
    wrong = client.get("/predict")
    assert (wrong.status_code, wrong.headers["allow"], wrong.json()) == (405, "POST", {"detail": "Method Not Allowed"})
