"""Dates as dates wherever a person reads them: the proposal form's data window (was unix seconds), edits typed
as dates on the web and in the CLI, and the CLI's audit trail."""

from __future__ import annotations

import re

import pytest

from agent.context import OpsContext
from agent.drafting import draft_retrain
from agent.reports.render import parse_utc
from graphs.runner import GraphRunner
from interfaces.cli.approvals_cmd import parse_assignments, readable
from interfaces.cli.common import UserError
from interfaces.dispatch import DispatchError
from interfaces.web.evidence import editable_params, form_changes
from tests.interfaces.web_support import start_web, stop_web

SINCE, UNTIL = 1796106901.0, 1796110501.0  # 2026-12-01 06:35:01 and 07:35:01 UTC
EPOCH = re.compile(r"\b1\d{9}(\.\d+)?\b")


@pytest.fixture(scope="module")
def world(inbox_world):
    ctx = OpsContext(inbox_world.settings(), via="test", actor="tester")
    with GraphRunner(ctx) as runner:
        proposal = draft_retrain(ctx, "churn", reason="test: a window to retrain on", window_since=SINCE,
                                 window_until=UNTIL, evidence=[], brain="offline policy", epochs=2)
        runner.file_proposal(proposal)
    web = start_web(inbox_world)
    yield web, ctx.approvals.get(proposal.id)
    stop_web(web)


def test_the_proposal_form_shows_its_window_as_dates(world):
    web, record = world
    client, _csrf = web.signed_in()
    html = client.get(f"/proposals/{record.id}").text
    form = html[html.index('id="edit-form"'):]
    form = form[:form.index("</form>")]
    assert 'value="2026-12-01T06:35:01Z"' in form and 'value="2026-12-01T07:35:01Z"' in form
    assert not EPOCH.search(form)
    assert not EPOCH.search(re.sub(r"<[^>]+>", " ", html))  # nor anywhere else on the page's text


def test_a_web_edit_reads_the_dates_back(world):
    _web, record = world
    shown = {f"field.{p.name}": p.value for p in editable_params(record) if p.editable}
    assert form_changes(record, shown) == {}  # submitted as shown: nothing changed
    moved = {**shown, "field.window_since": "2026-12-01 05:00", "field.window_until": ""}
    assert form_changes(record, moved) == {"window_since": 1796101200.0, "window_until": None}
    with pytest.raises(DispatchError, match="window_since: 'yesterday' is not a time; write it like"):
        form_changes(record, {**shown, "field.window_since": "yesterday"})


def test_a_bad_date_in_the_form_is_a_400_with_the_message(world):
    web, record = world
    client, csrf = web.signed_in()
    r = client.post(f"/proposals/{record.id}/answer", data={"csrf_token": csrf, "type": "edit",
                                                           "field.window_since": "next tuesday"})
    assert r.status_code == 400 and "is not a time" in r.text
    assert web.bearer().get(f"/api/proposals/{record.id}").json()["status"] == "pending"  # nothing ran


def test_parse_utc_and_the_cli():
    assert parse_utc("2026-12-01T06:35:01Z") == SINCE
    assert parse_utc("2026-12-01 06:35:01 UTC") == SINCE
    assert parse_utc("2026-12-01T07:35:01+01:00") == SINCE
    assert parse_utc(" ") is None and parse_utc("1796106901") == SINCE
    with pytest.raises(ValueError, match="is not a time"):
        parse_utc("soon")
    assert parse_assignments(["window_since=2026-12-01T06:35:01Z"], 0.0) == {"window_since": SINCE}
    with pytest.raises(UserError, match="window_until: 'later' is not a time"):
        parse_assignments(["window_until=later"], 0.0)
    assert readable({"changes": {"window_since": SINCE, "epochs": 3}, "expires_at": UNTIL}) == {
        "changes": {"window_since": "2026-12-01 06:35 UTC", "epochs": 3}, "expires_at": "2026-12-01 07:35 UTC"}
