"""The web page in a real browser (Playwright driving Debian's chromium, headless): a chat answer streams in,
an approval starts remediation, a rejection executes nothing, and the inbox looks like an inbox."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from tests.graphs.fakes import answer, tool_call
from tests.interfaces.web_support import USERS, StreamingScriptedModel, start_web, stop_web, wait_for

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
                                "(apt-get install chromium); `playwright install` is not used")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency: pip install -e .[dev]")
TIMEOUT_MS = 60_000  # background jobs run real graphs; generous, never a timing assertion


@pytest.fixture(scope="module")
def web(inbox_world):
    w = start_web(inbox_world)
    yield w
    stop_web(w)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser, web):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    pg.goto(f"{web.url}/inbox")
    assert "/login" in pg.url  # not signed in yet: sent to the login form
    pg.fill("input[name=user]", "alice")
    pg.fill("input[name=token]", USERS["alice"])
    pg.click("button[type=submit]")
    pg.wait_for_url(f"{web.url}/inbox")
    yield pg
    context.close()


def test_a_chat_answer_streams_in_with_its_tool_calls(page, web):
    gate = threading.Event()  # holds the answer after its first word until the page has shown it
    web.chat_model = StreamingScriptedModel(
        script=[tool_call("list_models"), answer("churn is the only registered model.")], gate=gate)
    try:
        page.click("nav >> text=Chat")
        page.fill("#chat-input", "which models are registered?")
        page.click("#chat-send")
        page.wait_for_selector(".msg.user >> text=which models are registered?")
        tool = page.wait_for_selector("details.tool")
        assert "list_models(" in tool.inner_text()
        page.wait_for_function("() => document.querySelector('details.tool pre').textContent.startsWith('list_models')")
        streaming = page.wait_for_selector(".msg.assistant.streaming")
        assert streaming.inner_text() == "churn"  # the first token, while the rest is still being written
        assert page.query_selector(".msg.assistant.final") is None
    finally:
        gate.set()
    final = page.wait_for_selector(".msg.assistant.final")
    assert final.inner_text() == "churn is the only registered model."
    assert "answered by" in page.wait_for_selector(".brain").inner_text()
    assert "/chat/" in page.url
    # reopening the thread shows its history, tool call included
    page.reload()
    assert "churn is the only registered model." in page.inner_text("#messages")
    page.click("details.tool summary")
    assert "list_models" in page.inner_text("details.tool pre")


def test_approving_starts_remediation_and_it_executes(page, web, inbox_world):
    pid = inbox_world.file_fix_data()
    page.goto(f"{web.url}/proposals/{pid}")
    page.click("#approve")
    page.wait_for_url(f"**/proposals/{pid}?job=*")
    box = page.wait_for_selector("#job")
    assert box.inner_text().startswith("Remediation job")
    assert page.inner_text("#job-status") in ("running", "done")
    page.wait_for_selector("#job-status.done")
    page.wait_for_function("() => document.getElementById('job-proposal').textContent.includes('executed')")
    assert "executed" in page.inner_text("#job-message")
    record = web.dispatcher.ctx.approvals.get(pid)
    assert record.status == "executed" and record.decided_by == "alice" and record.decided_via == "web"


def test_rejecting_executes_nothing(page, web, inbox_world):
    pid = inbox_world.file_fix_data()
    page.goto(f"{web.url}/proposals/{pid}")
    page.click("#reject")
    page.wait_for_url(f"**/proposals/{pid}?job=*")
    page.wait_for_function("() => document.getElementById('job-proposal').textContent.includes('rejected')")
    assert wait_for(lambda: web.dispatcher.ctx.approvals.get(pid).status == "rejected")
    events = [e.event for e in web.dispatcher.ctx.approvals.history(pid)]
    assert not any(e in events for e in ("accepted", "executing", "executed"))


def test_the_inbox_screenshot_shows_the_pending_proposal(page, web, inbox_world, tmp_path):
    pid = inbox_world.file_fix_data(problem="the billing feed sends nulls in total_day_minutes")
    title = web.dispatcher.ctx.approvals.get(pid).proposal.title
    page.goto(f"{web.url}/inbox")
    text = page.inner_text("main")
    assert "Approvals inbox" in text and title in text and "alice" in page.inner_text("header")
    shot = tmp_path / "inbox.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
    shutil.copy(shot, "/tmp/opsagent-inbox.png")  # for a person to look at
