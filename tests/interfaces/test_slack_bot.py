"""The Slack bot end to end: the real Bolt app mounted on FastAPI under uvicorn, requests signed the way
Slack signs them, the real dispatcher and graphs behind it, and a Slack Web API stand-in recording what it says."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from interfaces.dispatch import Dispatcher
from interfaces.slack.app import build_slack_app
from interfaces.slack.blocks import EDIT_VIEW, proposal_blocks
from interfaces.slack.http import mount_slack
from interfaces.slack.notifier import SlackNotifier
from ml_core.serving.server import ThreadedServer
from tests.interfaces.slack_standin import SlackStandIn

SECRET = "test-signing-secret"
APPROVER, MALLORY, CHANNEL = "U0APPROVER", "U0MALLORY", "C0OPS"


@pytest.fixture(scope="module")
def standin():
    s = SlackStandIn().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def bot(inbox_world, standin):
    settings = inbox_world.settings(slack_bot_token="xoxb-test", slack_signing_secret=SECRET,
                                    slack_approvers=[APPROVER], slack_api_base_url=standin.api_url,
                                    slack_channel=CHANNEL)
    dispatcher = Dispatcher(settings)
    bolt = build_slack_app(dispatcher)
    dispatcher.subscribe(SlackNotifier(dispatcher, bolt.client))
    app = FastAPI()
    mount_slack(app, bolt)
    with ThreadedServer(app) as server:
        yield Bot(dispatcher=dispatcher, url=f"{server.url}/slack/events", standin=standin)
    dispatcher.shutdown(grace_s=120)


class Bot:
    def __init__(self, dispatcher: Dispatcher, url: str, standin: SlackStandIn):
        self.dispatcher, self.url, self.standin = dispatcher, url, standin
        self.n = 0

    def post(self, body: bytes, content_type: str, *, ts: int | None = None, secret: str = SECRET) -> httpx.Response:
        stamp = str(int(time.time()) if ts is None else ts)
        signature = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        return httpx.post(self.url, content=body, timeout=30, headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature})

    def command(self, text: str, user: str = APPROVER) -> tuple[httpx.Response, str]:
        self.n += 1
        key = f"cmd-{self.n}"
        form = {"token": "x", "team_id": "T0TEST", "channel_id": CHANNEL, "user_id": user, "command": "/opsagent",
                "text": text, "response_url": self.standin.response_url(key), "trigger_id": f"trig-{self.n}",
                "api_app_id": "A0OPS"}
        return self.post(urlencode(form).encode(), "application/x-www-form-urlencoded"), key

    def interact(self, payload: dict) -> httpx.Response:
        payload = {"team": {"id": "T0TEST"}, "api_app_id": "A0OPS", "token": "x", **payload}
        return self.post(urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")

    def click(self, action: str, pid: str, user: str) -> tuple[httpx.Response, str, str]:
        """Click a button on a channel message showing proposal ``pid``; returns (response, message ts, trigger)."""
        self.n += 1
        ts, trigger = f"1699999999.{self.n:06d}", f"trig-{self.n}"
        proposal = self.dispatcher.ctx.approvals.get(pid).proposal
        payload = {"type": "block_actions", "user": {"id": user}, "trigger_id": trigger,
                   "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
                   "channel": {"id": CHANNEL}, "message": {"ts": ts, "blocks": proposal_blocks(proposal)},
                   "response_url": self.standin.response_url(f"act-{self.n}"),
                   "actions": [{"type": "button", "action_id": action, "value": pid, "action_ts": "1"}]}
        return self.interact(payload), ts, trigger

    def event(self, event: dict) -> httpx.Response:
        self.n += 1
        body = {"token": "x", "team_id": "T0TEST", "api_app_id": "A0OPS", "type": "event_callback",
                "event_id": f"Ev{self.n}", "event_time": int(time.time()), "event": event}
        return self.post(json.dumps(body).encode(), "application/json")

    def job_for(self, pid: str):
        return next(j for j in self.dispatcher.jobs(limit=1000) if j.proposal_id == pid)


# ---- signatures and bad input ----------------------------------------------------------------------------

def test_url_verification_and_forged_or_stale_signatures(bot):
    challenge = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}).encode()
    ok = bot.post(challenge, "application/json")
    assert ok.status_code == 200 and ok.json() == {"challenge": "c-123"}
    assert bot.post(challenge, "application/json", secret="not-the-secret").status_code == 401
    assert bot.post(challenge, "application/json", ts=int(time.time()) - 6 * 60).status_code == 401
    unsigned = httpx.post(bot.url, content=b"command=/opsagent&text=status", timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401
    assert not bot.standin.of("response_url")  # nothing ran


def test_malformed_and_oversized_bodies_get_clear_answers(bot):
    not_json = bot.post(b'{"type": "event_callback", oops', "application/json")
    assert not_json.status_code == 400 and "not a Slack payload" in not_json.json()["error"]
    bad_payload = bot.post(b"payload=%7Bnot-json", "application/x-www-form-urlencoded")
    assert bad_payload.status_code == 400
    a_list = bot.post(b"[1, 2]", "application/json")
    assert a_list.status_code == 400
    # Signed but missing the fields a listener needs: answered, no traceback, nothing changed.
    no_actions = bot.interact({"type": "block_actions", "user": {"id": APPROVER}, "actions": [
        {"type": "button", "action_id": "opsagent_approve"}]})
    assert no_actions.status_code == 200
    no_event = bot.post(json.dumps({"type": "event_callback", "team_id": "T0TEST"}).encode(), "application/json")
    assert no_event.status_code < 500
    huge = bot.post(b"text=" + b"x" * (1024 * 1024 + 10), "application/x-www-form-urlencoded")
    assert huge.status_code == 413


# ---- /opsagent --------------------------------------------------------------------------------------------

def test_unknown_or_empty_command_gets_the_help(bot):
    for text in ("bogus", "", "ask"):
        resp, _key = bot.command(text)
        assert resp.status_code == 200
        body = resp.json()
        assert "status [MODEL]" in body["text"] and "approvals [MODEL]" in body["text"]
        assert body.get("response_type", "ephemeral") == "ephemeral"
    assert "I don't know `bogus`" in bot.command("bogus")[0].json()["text"]


def test_status_answers_through_the_response_url(bot):
    resp, key = bot.command("status churn")
    assert resp.status_code == 200 and "Looking up churn" in resp.json()["text"]
    reply = bot.standin.wait_for("response_url", key=key)
    assert "Status of churn" in reply.args["text"] and "champion" in reply.args["text"]
    resp, key = bot.command("status nosuchmodel")
    assert "no registered model 'nosuchmodel'" in bot.standin.wait_for("response_url", key=key).args["text"]


def test_ask_goes_to_the_chat_graph(bot):
    resp, key = bot.command("ask list the models")
    assert resp.status_code == 200
    reply = bot.standin.wait_for("response_url", key=key)
    assert "churn" in reply.args["text"] and "offline" in reply.args["text"]


def test_approvals_lists_pending_proposals_with_buttons(bot, inbox_world):
    pid = inbox_world.file_fix_data()
    _resp, key = bot.command("approvals")
    reply = bot.standin.wait_for("response_url", key=key)
    buttons = [e for b in reply.args["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {(e["action_id"], e["value"]) for e in buttons} >= {("opsagent_approve", pid), ("opsagent_reject", pid)}
    # Both decisions ask first: Approve says what will run (Slack shows the dialog before sending the click).
    confirms = {e["action_id"]: e.get("confirm") for e in buttons if e["value"] == pid}
    approve = confirms["opsagent_approve"]
    assert approve["confirm"]["text"] == "Approve and run" and approve["deny"]["text"] == "Not yet"
    assert pid in approve["text"]["text"] and len(approve["text"]["text"]) <= 300
    assert confirms["opsagent_reject"]["confirm"]["text"] == "Reject"
    _resp, key = bot.command("approvals nosuchmodel")
    assert "no registered model" in bot.standin.wait_for("response_url", key=key).args["text"]


def test_triage_starts_a_job_whose_result_goes_to_the_channel(bot):
    resp, key = bot.command("triage churn")
    assert "Starting a triage of churn" in resp.json()["text"]
    reply = bot.standin.wait_for("response_url", key=key)
    assert "is running" in reply.args["text"] and f"<#{CHANNEL}>" in reply.args["text"]
    job = next(j for j in bot.dispatcher.jobs(limit=1000) if j.kind == "triage" and j.via == "slack")
    assert job.actor == "U0APPROVER" and bot.dispatcher.wait(job.id, timeout=240).status == "done"


def test_a_mention_is_answered_in_its_thread(bot):
    resp = bot.event({"type": "app_mention", "user": "U0ASKER", "channel": CHANNEL, "ts": "1700000100.000100",
                      "event_ts": "1700000100.000100", "text": "<@UBOTOPS> list the models"})
    assert resp.status_code == 200
    reply = bot.standin.wait_for("chat.postMessage", thread_ts="1700000100.000100")
    assert reply.args["channel"] == CHANNEL and "churn" in reply.args["text"]
    # A reply inside that thread stays in it, on the same chat thread.
    bot.event({"type": "app_mention", "user": "U0ASKER", "channel": CHANNEL, "ts": "1700000101.000200",
               "thread_ts": "1700000100.000100", "event_ts": "1700000101.000200", "text": "<@UBOTOPS> status"})
    bot.standin.wait_for("chat.postMessage", lambda c: "registry's champion" in c.args["text"],
                         thread_ts="1700000100.000100")


# ---- buttons ---------------------------------------------------------------------------------------------

def test_a_non_approver_click_changes_nothing(bot, inbox_world):
    pid = inbox_world.file_fix_data()
    for action in ("opsagent_approve", "opsagent_reject", "opsagent_edit"):
        resp, _ts, trigger = bot.click(action, pid, MALLORY)
        assert resp.status_code == 200
    # The listeners answer after ack(): wait for the third refusal.
    bot.standin.wait_for("chat.postEphemeral", lambda c: len(bot.standin.of("chat.postEphemeral", user=MALLORY)) >= 3,
                         user=MALLORY)
    refusals = bot.standin.of("chat.postEphemeral", user=MALLORY)
    assert len(refusals) == 3 and all("not on the approver list" in c.args["text"] for c in refusals)
    record = bot.dispatcher.ctx.approvals.get(pid)
    assert record.status == "pending" and record.decided_by is None
    audited = [e for e in bot.dispatcher.ctx.approvals.history(pid) if e.event == "refused-not-approver"]
    assert {(e.actor, e.via) for e in audited} == {(MALLORY, "slack")} and len(audited) == 3
    assert not bot.standin.of("views.open", trigger_id=trigger)


def test_an_approver_click_executes_and_updates_the_message(bot, inbox_world):
    pid = inbox_world.file_fix_data()
    resp, ts, _trigger = bot.click("opsagent_approve", pid, APPROVER)
    assert resp.status_code == 200
    update = bot.standin.wait_for("chat.update", ts=ts)
    shown = json.dumps(update.args["blocks"])
    assert "approved" in shown and APPROVER in shown and "remediation started" in shown
    assert "opsagent_approve" not in shown  # the buttons are gone
    job = bot.dispatcher.wait(bot.job_for(pid).id, timeout=120)
    assert job.status == "done"
    record = bot.dispatcher.ctx.approvals.get(pid)
    assert record.status == "executed" and record.decided_by == APPROVER and record.decided_via == "slack"
    # The outcome goes in the message's thread (the notifier found it through the thread map).
    bot.standin.wait_for("chat.postMessage", lambda c: pid in c.args["text"], thread_ts=ts)
    # A second click on the stale message is refused politely.
    bot.click("opsagent_approve", pid, APPROVER)
    bot.standin.wait_for("chat.postEphemeral", lambda c: "not pending" in c.args["text"], user=APPROVER)


def test_reject_executes_nothing(bot, inbox_world):
    pid = inbox_world.file_fix_data()
    _resp, ts, _trigger = bot.click("opsagent_reject", pid, APPROVER)
    update = bot.standin.wait_for("chat.update", ts=ts)
    assert "rejected" in json.dumps(update.args["blocks"])
    bot.dispatcher.wait(bot.job_for(pid).id, timeout=60)
    assert bot.dispatcher.ctx.approvals.get(pid).status == "rejected"
    assert not any(e.event in ("accepted", "executing", "executed") for e in bot.dispatcher.ctx.approvals.history(pid))


def test_edit_opens_a_modal_refuses_bad_values_and_applies_a_good_one(bot, inbox_world):
    pid = inbox_world.file_retrain(epochs=2)
    _resp, ts, trigger = bot.click("opsagent_edit", pid, APPROVER)
    opened = bot.standin.wait_for("views.open", trigger_id=trigger)
    view = opened.args["view"]
    assert view["callback_id"] == EDIT_VIEW
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["epochs"]["element"]["initial_value"] == "2" and "learning_rate" in inputs

    def submit(**values: str) -> httpx.Response:
        state = {name: {"value": {"type": "plain_text_input",
                                  "value": values.get(name, b["element"].get("initial_value"))}}
                 for name, b in inputs.items()}
        return bot.interact({"type": "view_submission", "user": {"id": APPROVER}, "trigger_id": "trig-view",
                             "view": {**view, "id": "V0EDIT", "state": {"values": state}}})

    for bad, field in (({"epochs": "many"}, "epochs"), ({"epochs": "0"}, "epochs"),
                       ({"window_since": "last tuesday"}, "window_since"), ({}, None)):
        resp = submit(**bad)
        assert resp.status_code == 200
        body = resp.json()
        assert body["response_action"] == "errors" and body["errors"]
        if field:
            assert field in body["errors"]
    assert bot.dispatcher.ctx.approvals.get(pid).status == "pending"
    assert submit(epochs="1").status_code == 200
    update = bot.standin.wait_for("chat.update", ts=ts)
    assert "edited and approved" in json.dumps(update.args["blocks"]) and "epochs=1" in json.dumps(update.args)
    job = bot.dispatcher.wait(bot.job_for(pid).id, timeout=240)
    assert job.status == "done"
    # Nothing serves churn in this home, so the remediation fails — and a failure is broadcast from the thread.
    outcome = bot.standin.wait_for("chat.postMessage", lambda c: pid in c.args["text"] and "failed" in c.args["text"],
                                   thread_ts=ts)
    assert outcome.args.get("reply_broadcast") is True
    history = bot.dispatcher.ctx.approvals.history(pid)
    edited = [e for e in history if e.event == "edited"]
    assert edited and edited[0].detail["changes"] == {"epochs": 1} and edited[0].actor == APPROVER
    record = bot.dispatcher.ctx.approvals.get(pid)
    assert record.decision == "edit" and record.proposal.epochs == 1


# ---- construction ----------------------------------------------------------------------------------------

def test_socket_mode_needs_no_signing_secret_and_http_mode_does(inbox_world, standin):
    from slack_sdk.errors import SlackApiError

    from interfaces.slack.app import start_socket_mode

    socket = Dispatcher(inbox_world.settings(slack_bot_token="xoxb-test", slack_socket_mode=True,
                                       slack_api_base_url=standin.api_url))
    bolt = build_slack_app(socket)  # no Slack call at construction
    assert not bolt.client.base_url.startswith("https://slack.com")
    # Connecting asks Slack for a WebSocket URL (apps.connections.open); a refusal surfaces, not a hang.
    with pytest.raises(SlackApiError, match="unknown_method"):
        start_socket_mode(bolt, "xapp-test")
    assert standin.of("apps.connections.open")
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        build_slack_app(Dispatcher(inbox_world.settings(slack_bot_token="xoxb-test")))
    with pytest.raises(ValueError, match="SLACK_BOT_TOKEN"):
        build_slack_app(Dispatcher(inbox_world.settings(slack_signing_secret=SECRET)))
