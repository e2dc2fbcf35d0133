"""Per-record scoring over real HTTP: a bad field costs its record, not the batch (Step 8, part 2)."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pandas as pd
import pytest
from test_serving_support import BROKEN, GOOD, MODEL, base_home, serve

from ml_core.monitoring.slo import data_quality
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.serving.state import DeploymentState


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> HomeLayout:
    return base_home().copy_to(tmp_path_factory.mktemp("serving-partial") / "home")


@pytest.fixture(scope="module")
def champion_only(home: HomeLayout):
    with serve(home, DeploymentState(model=MODEL, champion=GOOD)) as (_, client, _):
        yield client


def with_nulls(records: list[dict], every: int, field: str = "total_day_minutes") -> list[dict]:
    """Records with ``field`` null in every ``every``-th one (index 0, every, 2*every, ...)."""
    return [{**r, field: None} if i % every == 0 else r for i, r in enumerate(records)]


def test_a_null_field_in_a_few_records_costs_only_those_records(home: HomeLayout, champion_only: httpx.Client) -> None:
    records = with_nulls(base_home().records(100, start=300), every=12)  # 9 of 100 (indices 0, 12, ..., 96)
    bad = set(range(0, 100, 12))
    r = champion_only.post("/predict", json={"records": records})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["accepted"], body["rejected"], body["error_count"]) == (91, 9, 9)
    preds = body["predictions"]
    assert [p["index"] for p in preds] == [i for i in range(100) if i not in bad]
    assert [p["record_id"] for p in preds] == [records[i]["customer_id"] for i in range(100) if i not in bad]
    good = pd.DataFrame([records[i] for i in range(100) if i not in bad])
    np.testing.assert_allclose([p["score"] for p in preds], base_home().model.predict_proba(good), atol=1e-5)
    assert {(e["index"], e["field"], e["problem"]) for e in body["errors"]} == {
        (i, "total_day_minutes", "null") for i in bad}
    log = PredictionLog(home.predictions_db(MODEL))
    scored = log.predictions()
    assert (scored.request_id == body["request_id"]).sum() == 91
    rej = log.rejections()
    mine = rej[rej.request_id == body["request_id"]]
    # Monitoring sees the refused records, one per record, with the field to blame.
    quality = data_quality(scored[scored.request_id == body["request_id"]], mine, ["total_day_minutes"])
    assert quality.n_rejected == 9 and quality.rejection_rate == pytest.approx(0.09)
    assert [(f.field, f.problem, f.count) for f in quality.rejected_fields] == [("total_day_minutes", "null", 9)]


def test_every_record_bad_is_still_a_422(home: HomeLayout, champion_only: httpx.Client) -> None:
    records = with_nulls(base_home().records(3), every=1)
    r = champion_only.post("/predict", json={"records": records})
    assert r.status_code == 422, r.text
    body = r.json()
    assert "all 3 record(s) invalid" in body["detail"] and body["error_count"] == 3
    assert [(e["index"], e["record_id"]) for e in body["errors"]] == [(i, records[i]["customer_id"]) for i in range(3)]
    rej = PredictionLog(home.predictions_db(MODEL)).rejections()
    assert rej.iloc[-1].rows == 3


def test_a_record_that_is_not_an_object_is_listed_without_an_id(champion_only: httpx.Client) -> None:
    rec = base_home().records(1)[0]
    r = champion_only.post("/predict", json={"records": [rec, "not a record"]})
    assert r.status_code == 200, r.text
    assert r.json()["errors"] == [{"index": 1, "record_id": None, "field": None, "problem": "bad_body",
                                   "detail": "record is not a JSON object"}]


def test_metrics_count_refused_records(champion_only: httpx.Client) -> None:
    before = _rejected_records(champion_only.get("/metrics").text)
    champion_only.post("/predict", json={"records": with_nulls(base_home().records(10), every=5)})  # 2 bad
    assert _rejected_records(champion_only.get("/metrics").text) == before + 2


def _rejected_records(text: str) -> float:
    series = f'opsagent_predict_rejected_records_total{{model="{MODEL}"}} '
    [line] = [x for x in text.splitlines() if x.startswith(series)]
    return float(line.split()[1])


def test_fallback_answers_the_valid_records_of_a_partly_bad_batch(home: HomeLayout) -> None:
    state = DeploymentState(model=MODEL, champion=BROKEN, fallback_prior=0.14)
    with serve(home, state) as (_, client, _):
        r = client.post("/predict", json={"records": with_nulls(base_home().records(4), every=2)})
    body = r.json()
    assert r.status_code == 200 and [p["index"] for p in body["predictions"]] == [1, 3]
    assert all((p["role"], p["version"], p["score"]) == ("fallback", "prior", pytest.approx(0.14))
               for p in body["predictions"])
    assert [e["index"] for e in body["errors"]] == [0, 2]


def test_micro_batched_requests_each_get_their_own_records_back(home: HomeLayout) -> None:
    """Concurrent partly-bad requests share forward passes; each answer holds its own valid records only."""
    state = DeploymentState(model=MODEL, champion=GOOD, latency_budget_ms=10_000)
    pool = base_home().records(240, start=500)
    batches = [with_nulls(pool[k * 8:(k + 1) * 8], every=3 + k % 3) for k in range(30)]
    with serve(home, state) as (srv, _, _):
        bodies = asyncio.run(_concurrent(srv.url, batches))
    for recs, body in zip(batches, bodies, strict=True):
        valid = [i for i, x in enumerate(recs) if x["total_day_minutes"] is not None]
        assert [p["index"] for p in body["predictions"]] == valid
        assert [p["record_id"] for p in body["predictions"]] == [recs[i]["customer_id"] for i in valid]
        assert all(p["version"] == GOOD and not p["fallback"] for p in body["predictions"])
    every = pd.DataFrame([x for recs in batches for x in recs if x["total_day_minutes"] is not None])
    scores = [p["score"] for body in bodies for p in body["predictions"]]
    np.testing.assert_allclose(scores, base_home().model.predict_proba(every), atol=1e-5)


async def _concurrent(url: str, batches: list[list[dict]]) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        async def one(recs: list[dict]) -> dict:
            r = await client.post("/predict", json={"records": recs})
            assert r.status_code == 200, r.text
            return r.json()

        return await asyncio.gather(*(one(b) for b in batches))
