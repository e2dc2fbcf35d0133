"""The model health page: its JSON over HTTP (exact per-bucket values) and the page in a real browser (Playwright
driving Debian's chromium): six SVG charts with a series per version, the deploy, incident and proposal marked,
and a screenshot whose chart region is drawn."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from agent.incidents import IncidentStore
from tests.interfaces.health_world import BUCKETS, HOURS, write_churn_traffic
from tests.interfaces.inbox_world import make_inbox_world
from tests.interfaces.web_support import USERS, start_web, stop_web

CHROMIUM = Path("/usr/bin/chromium")
QUERY = f"hours={HOURS:g}&buckets={BUCKETS}"


@pytest.fixture(scope="module")
def web(tmp_path_factory, churn_df):
    world = make_inbox_world(tmp_path_factory.mktemp("health"), churn_df)
    write_churn_traffic(world.layout, churn_df, until=time.time())
    store = IncidentStore(world.layout.approvals_db)
    try:
        store.open("churn", status="proposed", category="data_drift", culprit=["total_day_minutes"])
    finally:
        store.close()
    world.file_fix_data()
    w = start_web(world)
    yield w
    stop_web(w)


def test_the_json_has_the_series_per_version_and_bucket(web):
    r = web.bearer().get(f"/api/models/churn/health?{QUERY}")
    assert r.status_code == 200, r.text
    h = r.json()
    assert h["versions"] == ["1", "2"] and len(h["starts"]) == BUCKETS
    panels = {p["key"]: {s["name"]: s["values"] for s in p["series"]} for p in h["panels"]}
    # 1,000 requests a bucket of 30 min; from bucket 6 one in five is v2's (ten of them answered by v1's fallback,
    # still charged to v2)
    assert panels["traffic"]["v1"] == pytest.approx([1000 / 30] * 6 + [800 / 30] * 6)
    assert panels["traffic"]["v2"][:6] == [None] * 6  # not serving yet
    assert panels["traffic"]["v2"][6:] == pytest.approx([200 / 30] * 6)
    assert panels["errors"]["v2"][:6] == [None] * 6 and panels["errors"]["v2"][6:] == pytest.approx([0.05] * 6)
    assert panels["realised"]["v1 F1"][10:] == [None, None]  # no labels for the last hour yet
    assert all(v is not None for v in panels["realised"]["v1 F1"][:10])
    drift = panels["drift"]
    assert next(iter(drift)) == "total_day_minutes"  # the shifted feature tops the panel
    day = drift["total_day_minutes"]
    assert min(day[8:]) > 1.0 > max(day[:8])  # over Evidently's threshold from the shift on, under it before
    kinds = sorted(m["kind"] for m in h["markers"])
    assert kinds == ["deploy", "incident", "proposal"]
    assert [m["label"] for m in h["markers"] if m["kind"] == "deploy"] == ["v2 serves as canary"]


@pytest.mark.parametrize(("query", "status", "message"), [
    ("hours=abc", 400, "hours must be a number"),
    ("hours=-3", 400, "hours must be a positive number"),
    ("buckets=1", 400, "buckets must be between 2 and 200"),
    ("buckets=2.5", 400, "buckets must be a whole number"),
    ("hours=2000", 400, "at most 30 days"),
])
def test_bad_queries_are_told_what_to_send(web, query, status, message):
    r = web.bearer().get(f"/api/models/churn/health?{query}")
    assert r.status_code == status and message in r.json()["detail"]


def test_unknown_model_and_anonymous_requests(web):
    assert web.bearer().get("/api/models/nosuch/health").status_code == 404
    assert web.client().get("/api/models/churn/health").status_code == 401
    page = web.client().get("/models/churn/health")
    assert page.status_code == 303 and "/login" in page.headers["location"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_page_in_a_browser_shows_the_charts(web, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    from PIL import Image

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(f"{web.url}/login")
            page.fill("input[name=user]", "alice")
            page.fill("input[name=token]", USERS["alice"])
            page.click("button[type=submit]")
            page.goto(f"{web.url}/models")
            page.click("a.health-link")  # the models page links each model's health
            page.wait_for_url(re.compile(r".*/models/churn/health$"))
            page.goto(f"{web.url}/models/churn/health?{QUERY}")
            assert page.locator("svg.chart").count() == 6
            counts = {key: page.locator(f"svg[data-panel={key}] path.series").count()
                      for key in ("realised", "estimated", "drift", "latency", "errors", "traffic")}
            assert counts == {"realised": 4, "estimated": 4, "drift": 4, "latency": 2, "errors": 2, "traffic": 2}
            for kind in ("deploy", "incident", "proposal"):  # every chart marks each event
                assert page.locator(f"svg.chart line.marker.{kind}").count() == 6
            assert page.locator("svg[data-panel=drift] g[data-series=total_day_minutes]").count() == 1
            events = page.inner_text("#events")
            assert "v2 serves as canary" in events and re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC", events)
            assert not re.search(r"\b1\d{9}\b", page.inner_text("main"))  # no epoch seconds anywhere a person reads
            shot = tmp_path / "health.png"
            page.screenshot(path=str(shot), full_page=True)
            chart = tmp_path / "traffic.png"
            page.locator("#panel-traffic svg.chart").screenshot(path=str(chart))
        finally:
            browser.close()
    full = Image.open(shot).convert("RGB")
    assert full.size[0] == 1280 and len(full.getcolors(1 << 24) or []) > 50  # not blank: many colours drawn
    region = Image.open(chart).convert("RGB")
    background = region.getpixel((region.width // 2, 3))  # the card's white above the plot area
    pixels = list(region.getdata())
    drawn = sum(1 for px in pixels if px != background) / len(pixels)
    assert drawn > 0.2, f"only {drawn:.1%} of the chart differs from its background"
    series_colour = (0x00, 0x72, 0xB2)  # v1's colour: its line is on screen
    assert any(abs(r - series_colour[0]) + abs(g - series_colour[1]) + abs(b - series_colour[2]) < 30
               for r, g, b in pixels)
