"""The scoring service over real HTTP (uvicorn in a thread), with a real MLflow registry on SQLite."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from test_serving_support import BROKEN, GOOD, GOOD2, MODEL, SLOW, SLOW_MS, UNLOADABLE, base_home, serve

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.serving.app import ADMIN_HEADER
from ml_core.serving.request_ids import RequestIds
from ml_core.serving.state import DeploymentState, baseline_path, read_admin_token, token_path, write_state


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> HomeLayout:
    return base_home().copy_to(tmp_path_factory.mktemp("serving") / "home")


@pytest.fixture(scope="module")
def champion_only(home: HomeLayout):
    with serve(home, DeploymentState(model=MODEL, champion=GOOD)) as (_, client, _):
        yield client


def predlog(layout: HomeLayout) -> PredictionLog:
    return PredictionLog(layout.predictions_db(MODEL))


def rows_of(layout: HomeLayout, request_id: str) -> pd.DataFrame:
    df = predlog(layout).predictions()
    return df[df.request_id == request_id]


def test_predict_one_record_answers_and_logs(home: HomeLayout, champion_only: httpx.Client) -> None:
    rec = base_home().records(1)[0]
    r = champion_only.post("/predict", json={"records": [rec]})
    assert r.status_code == 200, r.text
    body = r.json()
    [p] = body["predictions"]
    assert p["record_id"] == rec["customer_id"] and p["version"] == GOOD and p["role"] == "champion"
    assert p["fallback"] is False and p["fallback_reason"] is None and p["label"] in (0, 1)
    expected = base_home().model.predict_proba(pd.DataFrame([rec]))[0]
    assert p["score"] == pytest.approx(expected, abs=1e-6)
    logged = rows_of(home, body["request_id"])
    assert len(logged) == 1 and logged.iloc[0].record_id == rec["customer_id"]
    assert logged.iloc[0].version == GOOD and logged.iloc[0].total_day_minutes == rec["total_day_minutes"]


def test_predict_batch_keeps_order_and_ids(home: HomeLayout, champion_only: httpx.Client) -> None:
    recs = base_home().records(200, start=10)
    r = champion_only.post("/predict", json={"records": recs})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["record_id"] for p in preds] == [x["customer_id"] for x in recs]
    expected = base_home().model.predict_proba(pd.DataFrame(recs))
    np.testing.assert_allclose([p["score"] for p in preds], expected, atol=1e-5)
    assert len(rows_of(home, r.json()["request_id"])) == 200


def test_record_id_is_optional(champion_only: httpx.Client) -> None:
    rec = base_home().records(1)[0]
    del rec["customer_id"]
    rec["churn"] = "yes"  # unknown extra fields are ignored
    r = champion_only.post("/predict", json={"records": [rec]})
    assert r.status_code == 200 and r.json()["predictions"][0]["record_id"] is None


BAD_VALUES = [
    ("total_day_minutes", None, "null"),
    ("total_day_minutes", "a lot", "wrong_type"),
    ("total_day_calls", 3.5, "wrong_type"),
    ("international_plan", True, "wrong_type"),
    ("total_day_minutes", 5000.0, "out_of_range"),
    ("number_customer_service_calls", -1, "out_of_range"),
    ("state", "XX", "unknown_category"),
    ("area_code", "area_code_999", "unknown_category"),
    ("account_length", ..., "missing"),
]


@pytest.mark.parametrize(("field", "value", "problem"), BAD_VALUES)
def test_bad_record_is_left_out_listed_and_logged(home: HomeLayout, champion_only: httpx.Client,
                                                  field: str, value: object, problem: str) -> None:
    good, bad = base_home().records(2)
    if value is ...:
        del bad[field]
    else:
        bad[field] = value
    before = len(predlog(home).rejections())
    r = champion_only.post("/predict", json={"records": [good, bad]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(p["index"], p["record_id"]) for p in body["predictions"]] == [(0, good["customer_id"])]
    assert (body["accepted"], body["rejected"]) == (1, 1)
    errors = body["errors"]
    assert errors == [{"index": 1, "record_id": bad["customer_id"], "field": field, "problem": problem,
                       "detail": errors[0]["detail"]}]
    rej = predlog(home).rejections()
    assert len(rej) == before + 1 and problem in rej.iloc[-1].reason and rej.iloc[-1].rows == 1
    assert rej.iloc[-1].request_id == body["request_id"]  # joins the scored half of the same request
    assert len(rows_of(home, body["request_id"])) == 1


@pytest.mark.parametrize(("content", "status", "problem"), [
    (b'{"records": [ {"state": ', 400, "malformed_json"),
    (b"[1, 2, 3]", 422, "bad_body"),
    (b'{"records": []}', 422, "bad_body"),
    (b'{"records": [42]}', 422, "bad_body"),
])
def test_malformed_bodies_get_clear_errors(home: HomeLayout, champion_only: httpx.Client, content: bytes,
                                           status: int, problem: str) -> None:
    before = len(predlog(home).rejections())
    r = champion_only.post("/predict", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status and r.json()["errors"][0]["problem"] == problem
    assert "Traceback" not in r.text and r.json()["detail"]
    assert len(predlog(home).rejections()) == before + 1


def test_oversized_batch_is_refused(champion_only: httpx.Client) -> None:
    r = champion_only.post("/predict", json={"records": base_home().records(1) * 1001})
    assert r.status_code == 413 and "limit of 1000" in r.json()["detail"]


def test_metrics_count_requests_and_rejections(champion_only: httpx.Client) -> None:
    champion_only.post("/predict", json={"records": base_home().records(1)})
    champion_only.post("/predict", content=b"nope")
    text = champion_only.get("/metrics").text
    # Every series names the service's model, and the version that answered (one model per service).
    ok = f'model="{MODEL}",role="champion",status="ok",version="{GOOD}"'
    assert f"opsagent_predict_requests_total{{{ok}}}" in text
    assert f'opsagent_predict_rejections_total{{model="{MODEL}",problem="malformed_json"}}' in text
    assert f'opsagent_predict_requests_total{{model="{MODEL}",role="none",status="rejected",version=""}}' in text
    assert (f'opsagent_predict_latency_seconds_count{{model="{MODEL}",role="champion",version="{GOOD}"}}' in text
            and f'opsagent_model_ready{{model="{MODEL}",version="{GOOD}"}} 1.0' in text)
    assert f'opsagent_canary_weight{{model="{MODEL}"}} 0.0' in text


async def _burst(url: str, n: int, records: list[dict]) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, timeout=60,
                                 limits=httpx.Limits(max_connections=32)) as client:
        sem = asyncio.Semaphore(32)

        async def one() -> dict:
            async with sem:
                r = await client.post("/predict", json={"records": records})
                assert r.status_code == 200, r.text
                return r.json()["predictions"][0]

        return await asyncio.gather(*(one() for _ in range(n)))


def test_traffic_split_follows_canary_weight(home: HomeLayout) -> None:
    # a generous budget: this checks routing, and a loaded CI machine must not turn answers into fallbacks
    state = DeploymentState(model=MODEL, champion=GOOD, canary=GOOD2, canary_weight=0.3, latency_budget_ms=10_000)
    with serve(home, state) as (srv, client, _):
        preds = asyncio.run(_burst(srv.url, 400, base_home().records(1)))
        assert client.get("/state").json()["routing"]["canary"] == GOOD2
        metrics = client.get("/metrics").text
    roles = pd.Series([p["role"] for p in preds])
    share = (roles == "canary").mean()
    assert 0.3 - 0.07 < share < 0.3 + 0.07, share
    assert set(roles) == {"champion", "canary"}
    assert {p["version"] for p in preds if p["role"] == "canary"} == {GOOD2}
    # The latency histogram is split by the version that answered: as many observations as answers of each.
    counts = {v: sum(1 for p in preds if p["version"] == v) for v in (GOOD, GOOD2)}
    for version, role in ((GOOD, "champion"), (GOOD2, "canary")):
        line = f'opsagent_predict_latency_seconds_count{{model="{MODEL}",role="{role}",version="{version}"}}'
        assert f"{line} {float(counts[version])}" in metrics, metrics
    assert f'opsagent_canary_weight{{model="{MODEL}"}} 0.3' in metrics


def test_broken_canary_falls_back_to_champion(home: HomeLayout) -> None:
    state = DeploymentState(model=MODEL, champion=GOOD, canary=BROKEN, canary_weight=1.0)
    with serve(home, state) as (srv, client, _):
        preds = asyncio.run(_burst(srv.url, 20, base_home().records(2)))
        metrics = client.get("/metrics").text
    assert all(p["role"] == "fallback" and p["fallback"] and p["version"] == GOOD for p in preds)
    assert all(p["fallback_reason"].startswith("error: RuntimeError: injected fault") for p in preds)
    log = predlog(home).predictions(with_features=False)
    assert (log[log.intended_version == BROKEN].version == GOOD).all()
    assert f'opsagent_predict_fallbacks_total{{intended_version="{BROKEN}",kind="error",model="{MODEL}"}}' in metrics


def test_broken_champion_without_previous_or_baseline_answers_with_the_prior(home: HomeLayout) -> None:
    assert not baseline_path(home, MODEL).exists()  # this home saved no baseline: the prior is the last resort
    state = DeploymentState(model=MODEL, champion=BROKEN, fallback_prior=0.14)
    with serve(home, state) as (_, client, _):
        [p] = client.post("/predict", json={"records": base_home().records(1)}).json()["predictions"]
    assert (p["role"], p["version"], p["label"]) == ("fallback", "prior", 0)
    assert p["score"] == pytest.approx(0.14)


def test_broken_champion_without_previous_answers_with_a_saved_baseline(tmp_path: Path, churn_df) -> None:
    from ml_core.baseline import SimpleBaseline
    from ml_core.data.tables import split_frame

    layout = base_home().copy_to(tmp_path / "home")
    SimpleBaseline.fit(split_frame(churn_df, CHURN_SCHEMA).train, CHURN_SCHEMA).save(baseline_path(layout, MODEL))
    state = DeploymentState(model=MODEL, champion=BROKEN, fallback_prior=0.14)
    with serve(layout, state) as (_, client, _):
        [p] = client.post("/predict", json={"records": base_home().records(1)}).json()["predictions"]
    assert (p["role"], p["version"]) == ("fallback", "baseline")
    assert 0.0 <= p["score"] <= 1.0 and p["score"] != pytest.approx(0.14)


def test_slow_champion_times_out_to_previous_champion(home: HomeLayout) -> None:
    # The previous champion gets the same budget; 300 ms leaves it room on a loaded 2-core machine.
    state = DeploymentState(model=MODEL, champion=SLOW, previous_champion=GOOD, latency_budget_ms=300)
    with serve(home, state) as (_, client, _):
        t0 = time.perf_counter()
        r = client.post("/predict", json={"records": base_home().records(3)})
        elapsed = time.perf_counter() - t0
    preds = r.json()["predictions"]
    assert all(p["version"] == GOOD and p["role"] == "fallback" for p in preds), preds
    assert preds[0]["fallback_reason"] == "timeout after 300 ms"
    assert elapsed < SLOW_MS / 1000  # answered before the slow model finished
    logged = rows_of(home, r.json()["request_id"])
    assert (logged.intended_version == SLOW).all() and (logged.role == "fallback").all()


def test_ready_is_503_until_loaded_and_reload_needs_the_token(home: HomeLayout) -> None:
    with serve(home, DeploymentState(model=MODEL, champion=GOOD), wait_ready=False, autoload=False) as (
            _, client, _):
        r = client.get("/ready")
        assert r.status_code == 503 and "loading" in r.json()["reason"]
        assert client.get("/health").status_code == 200
        assert client.post("/admin/reload").status_code == 403
        assert client.post("/admin/reload", headers={ADMIN_HEADER: "wrong"}).status_code == 403
        token = read_admin_token(token_path(home, MODEL))
        assert token_path(home, MODEL).stat().st_mode & 0o777 == 0o600
        r = client.post("/admin/reload", headers={ADMIN_HEADER: token})
        assert r.status_code == 200 and r.json()["loaded"] == [GOOD]
        assert client.get("/ready").status_code == 200


def test_reload_refuses_a_version_failing_readiness_and_keeps_routing(home: HomeLayout) -> None:
    with serve(home, DeploymentState(model=MODEL, champion=GOOD)) as (_, client, state_file):
        write_state(state_file, DeploymentState(model=MODEL, champion=GOOD, canary=UNLOADABLE, canary_weight=0.5))
        token = read_admin_token(token_path(home, MODEL))
        r = client.post("/admin/reload", headers={ADMIN_HEADER: token})
        assert r.status_code == 409 and f"version {UNLOADABLE} failed readiness" in r.json()["detail"]
        assert client.get("/state").json()["routing"]["canary"] is None
        assert client.get("/ready").status_code == 200
        preds = asyncio.run(_burst(str(client.base_url), 30, base_home().records(1)))
        assert {p["version"] for p in preds} == {GOOD}


def test_no_champion_is_not_ready(home: HomeLayout) -> None:
    with serve(home, None, wait_ready=False) as (_, client, _):
        deadline = time.monotonic() + 10
        while "loading" in client.get("/ready").json()["reason"] and time.monotonic() < deadline:
            time.sleep(0.05)
        r = client.get("/ready")
        assert r.status_code == 503 and "no champion" in r.json()["reason"]


def test_request_ids_are_32_hex_digits_and_never_repeat_across_services() -> None:
    """The log's request keys: unique within a service (a counter) and between two sharing a log (their prefix)."""
    a, b = RequestIds(), RequestIds()
    ids = [a.next() for _ in range(1000)] + [b.next() for _ in range(1000)]
    assert len(set(ids)) == 2000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert {i[:16] for i in ids[:1000]} != {i[:16] for i in ids[1000:]}


def test_two_requests_get_different_ids(champion_only: httpx.Client) -> None:
    rec = base_home().records(1)[0]
    ids = {champion_only.post("/predict", json={"records": [rec]}).json()["request_id"] for _ in range(3)}
    assert len(ids) == 3
