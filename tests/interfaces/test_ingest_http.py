"""Ingest over real HTTP: the web app on uvicorn (loopback), httpx as the other serving system."""

from __future__ import annotations

import json

import pytest

from interfaces.web.ingest_api import MAX_RECORDS
from ml_core.data.credit import load_credit
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from tests.ingest_support import prediction_records
from tests.interfaces.inbox_world import InboxWorld
from tests.interfaces.web_support import start_web, stop_web

PREDICTIONS = "/api/v1/models/credit/predictions"
LABELS = "/api/v1/models/credit/labels"


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    # No model is trained: an external model is watched from what is sent in (decisions at 0.5 without a champion).
    w = start_web(InboxWorld(layout=HomeLayout(tmp_path_factory.mktemp("ingest-web")).ensure(), champion=""))
    yield w
    stop_web(w)


@pytest.fixture(scope="module")
def rows():
    return load_credit().head(8)


def logged(web) -> PredictionLog:
    return PredictionLog(web.world.layout.predictions_db("credit"))


def test_without_a_token_nothing_is_written(web, rows):
    body = {"records": prediction_records(rows)}
    with web.client() as anonymous:
        assert anonymous.post(PREDICTIONS, json=body).status_code == 401
    with web.client(headers={"Authorization": "Bearer wrong"}) as wrong:
        assert wrong.post(PREDICTIONS, json=body).status_code == 401
    signed_in, csrf = web.signed_in("alice")
    try:  # a cookie session must echo its CSRF token, like every other POST
        assert signed_in.post(PREDICTIONS, json=body).status_code == 403
        r = signed_in.post(LABELS, json={"records": [{"credit_id": "k1", "label": "bad"}]},
                           headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200 and r.json()["accepted"] == 1
    finally:
        signed_in.close()
    with logged(web) as log:
        assert log.count() == 0


def test_a_partly_valid_batch_keeps_the_valid_records(web, rows):
    records = prediction_records(rows)
    records[4]["Job"] = "astronaut"
    records[6]["score"] = -0.1
    with web.bearer("bob") as client:
        r = client.post(PREDICTIONS, json={"records": records})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["total"], body["accepted"], body["rejected"]) == (8, 6, 2)
        assert [(e["row"], e["field"], e["problem"]) for e in body["errors"]] == [
            (5, "Job", "unknown_category"), (7, "score", "out_of_range")]
        labels = [{"credit_id": cid, "label": status} for cid, status in zip(rows["credit_id"], rows["Status"],
                                                                             strict=True)]
        labels[0]["label"] = "unsure"
        r = client.post(LABELS, json={"records": labels})
        assert r.status_code == 200 and r.json()["accepted"] == 7, r.text
    with logged(web) as log:
        assert len(log.predictions()) == 6 and int(log.rejections()["rows"].sum()) == 2
        assert len(log.labelled()) == 5  # 6 predictions, and the first one's label was refused


def test_nothing_valid_is_422_and_bad_requests_say_why(web, rows):
    with web.bearer() as client:
        with logged(web) as log:
            before = log.count()
        none_valid = [{**r, "version": None} for r in prediction_records(rows.head(2))]
        r = client.post(PREDICTIONS, json={"records": none_valid})
        assert r.status_code == 422 and r.json()["accepted"] == 0 and r.json()["error_count"] == 2
        assert client.post(PREDICTIONS, json={"rows": []}).status_code == 422
        assert client.post(PREDICTIONS, content=b"{not json").status_code == 400
        r = client.post("/api/v1/models/fraud/predictions", json={"records": none_valid})
        assert r.status_code == 404 and "no model 'fraud'" in r.json()["detail"]
        assert client.post("/api/v1/models/Not A Name/labels", json={"records": [{}]}).status_code == 404
        too_many = client.post(LABELS, json={"records": [{}] * (MAX_RECORDS + 1)})
        assert too_many.status_code == 413 and "split the batch" in too_many.json()["detail"]
        huge = client.post(PREDICTIONS, content=json.dumps({"records": ["x" * 9_000_000]}))
        assert huge.status_code == 413
        with logged(web) as log:
            assert log.count() == before
