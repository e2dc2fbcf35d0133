"""The Slack notifier: dispatcher events (through the real dispatcher and graphs) become channel messages and thread
replies at a Slack Web API stand-in; a failing Slack is logged and never reaches the dispatcher."""

from __future__ import annotations

import json
import logging
import time

import pytest
from slack_sdk import WebClient

from agent.proposals import Accept
from interfaces.dispatch import Dispatcher, Event
from interfaces.scheduler.run_log import RunRecord
from interfaces.slack.blocks import mrkdwn
from interfaces.slack.notifier import SlackNotifier
from ml_core.serving.server import free_port
from tests.interfaces.slack_standin import SlackStandIn

CHANNEL = "C0INCIDENTS"
POSTMORTEM = """# Data quality incident on churn

| | |
|---|---|
| **Model** | churn |
| **Incident** | inc-slk1 |

## Summary

**Nulls** arrive in `total_day_minutes` from the billing feed; see [the runbook](https://runbooks.example/nulls).

## Action items

- [ ] fix the billing export
"""


@pytest.fixture(scope="module")
def standin():
    s = SlackStandIn().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def world(inbox_world, standin, tmp_path_factory):
    settings = inbox_world.settings(slack_bot_token="xoxb-test", slack_channel=CHANNEL,
                                    slack_api_base_url=standin.api_url, web_public_url="https://ops.example")
    dispatcher = Dispatcher(settings)
    client = WebClient(token="xoxb-test", base_url=standin.api_url)
    dispatcher.subscribe(SlackNotifier(dispatcher, client))
    pm = tmp_path_factory.mktemp("pm") / "postmortem.md"
    pm.write_text(POSTMORTEM)
    yield dispatcher, client, pm
    dispatcher.shutdown(grace_s=60)


def _incident(dispatcher: Dispatcher, incident_id: str, proposal_id: str | None, postmortem: str | None) -> None:
    now = time.time()
    dispatcher.on_scheduled_run(RunRecord(model="churn", started_at=now - 5, finished_at=now, status="incident",
                                    via="scheduler", incident_id=incident_id, proposal_id=proposal_id,
                                    postmortem=postmortem, detail="data quality: nulls in total_day_minutes"))


def test_an_incident_posts_its_proposal_and_the_postmortem_in_its_thread(world, standin, inbox_world):
    dispatcher, _client, pm = world
    pid = inbox_world.file_fix_data()
    _incident(dispatcher, "inc-slk1", pid, str(pm))
    top = standin.wait_for("chat.postMessage", lambda c: "inc-slk1" in json.dumps(c.args.get("blocks")),
                           channel=CHANNEL)
    assert top.args.get("thread_ts") is None and "total_day_minutes" in top.args["text"]
    buttons = {(e["action_id"], e["value"]) for b in top.args["blocks"] if b["type"] == "actions"
               for e in b["elements"]}
    assert buttons == {("opsagent_approve", pid), ("opsagent_reject", pid)}  # fix-data has nothing to edit
    root_ts = top.answer["ts"]
    text = standin.wait_for("chat.postMessage", thread_ts=root_ts).args["text"]  # the post-mortem
    assert "*Data quality incident on churn*" in text and "*Nulls*" in text and "|---|" not in text
    assert "<https://runbooks.example/nulls|the runbook>" in text and "*Model*: churn" in text
    assert "<https://ops.example/incidents/inc-slk1|" in text

    # An approver answers on the web: "started" and the outcome go in the same thread, the buttons go away.
    job = dispatcher.answer(pid, Accept(by="alice", via="web"))
    dispatcher.wait(job.id, timeout=120)
    replies = standin.of("chat.postMessage", thread_ts=root_ts)
    assert any("remediation started" in c.args["text"] for c in replies)
    outcome = next(c for c in replies if c.args["text"].startswith(":white_check_mark:"))
    assert pid in outcome.args["text"] and "acknowledged" in outcome.args["text"]
    update = standin.wait_for("chat.update", ts=root_ts)
    shown = json.dumps(update.args["blocks"])
    assert "opsagent_approve" not in shown and "approved" in shown and "inc-slk1" in shown


def test_outcomes_reply_in_the_thread_and_promotions_and_failures_are_broadcast(world, standin):
    dispatcher, client, pm = world
    _incident(dispatcher, "inc-slk2", None, str(pm))
    top = standin.wait_for("chat.postMessage", lambda c: "inc-slk2" in json.dumps(c.args.get("blocks")))
    assert not [b for b in top.args["blocks"] if b["type"] == "actions"]  # no proposal, no buttons
    root = top.answer["ts"]
    events = [("executed", "prop-a: executed — promoted v3 to champion", True),
              ("failed", "prop-b: failed — canary unhealthy", True),
              ("executed", "prop-c: executed — acknowledged", False)]
    # A fresh notifier (a restart) finds the incident's thread from slack.db.
    restarted = SlackNotifier(dispatcher, client)
    for status, text, _broadcast in events:
        restarted(Event(at=time.time(), kind="remediation", model="churn", text=text, via="slack", actor="U1",
                        incident_id="inc-slk2", status=status, steps=("retrain v3", "canary 10%", "promote")))
    for _status, text, broadcast in events:
        call = standin.wait_for("chat.postMessage", lambda c, t=text: t in c.args["text"], thread_ts=root)
        assert bool(call.args.get("reply_broadcast")) is broadcast
        assert "• canary 10%" in call.args["text"]


def test_quiet_failed_and_unthreaded_events(world, standin):
    dispatcher, _client, _pm = world
    before = len(standin.calls)
    now = time.time()
    dispatcher.on_scheduled_run(RunRecord(model="churn", started_at=now, finished_at=now, status="ok", via="scheduler",
                                    detail="no drift"))
    assert len(standin.calls) == before  # quiet: nothing posted
    dispatcher.on_scheduled_run(RunRecord(model="churn", started_at=now, finished_at=now, status="failed",
                                    via="scheduler", detail="RuntimeError: registry unreachable"))
    failed = standin.wait_for("chat.postMessage", lambda c: "registry unreachable" in c.args["text"])
    assert failed.args["text"].startswith(":warning:") and not failed.args.get("thread_ts")
    # A proposal filed from chat has no thread yet: its first event starts one, the next replies in it.
    dispatcher.publish(Event(at=time.time(), kind="refused", model="churn", via="slack", actor="U9",
                             text="U9 is not an approver; prop-zzz was not changed", proposal_id="prop-zzz"))
    first = standin.wait_for("chat.postMessage", lambda c: "prop-zzz was not changed" in c.args["text"])
    dispatcher.publish(Event(at=time.time(), kind="answered", model="churn", text="prop-zzz: rejected", via="slack",
                             actor="U1", proposal_id="prop-zzz", status="rejected"))
    second = standin.wait_for("chat.postMessage", lambda c: c.args["text"].endswith("prop-zzz: rejected"))
    assert not first.args.get("thread_ts") and second.args["thread_ts"] == first.answer["ts"]


def test_slack_errors_are_logged_never_raised(world, standin, caplog):
    dispatcher, _client, pm = world
    event = Event(at=time.time(), kind="triage_failed", model="churn", text="churn: triage failed: boom",
                  via="scheduler", actor="scheduler")
    notifier = SlackNotifier(dispatcher, WebClient(token="xoxb-test", base_url=standin.api_url))
    standin.fail_with = "channel_not_found"
    try:
        with caplog.at_level(logging.WARNING, logger="interfaces.slack.notifier"):
            notifier(event)
            notifier(Event(at=time.time(), kind="incident", model="churn", text="x", via="scheduler", actor="scheduler",
                           incident_id="inc-slk3", postmortem=str(pm)))
    finally:
        standin.fail_with = None
    assert "channel_not_found" in caplog.text
    caplog.clear()
    down = SlackNotifier(dispatcher, WebClient(token="xoxb-test", base_url=f"http://127.0.0.1:{free_port()}/api/",
                                         timeout=5))
    with caplog.at_level(logging.WARNING, logger="interfaces.slack.notifier"):
        down(event)
    assert "could not post" in caplog.text


def test_no_channel_no_messages(inbox_world, standin):
    dispatcher = Dispatcher(inbox_world.settings(slack_bot_token="xoxb-test", slack_api_base_url=standin.api_url))
    before = len(standin.calls)
    SlackNotifier(dispatcher, WebClient(token="xoxb-test", base_url=standin.api_url))(
        Event(at=time.time(), kind="triage_failed", model="churn", text="boom", via="scheduler", actor="scheduler"))
    assert len(standin.calls) == before
    dispatcher.shutdown(grace_s=1)


def test_mrkdwn_cuts_long_text_and_keeps_it_readable():
    long = "# Title\n\n" + "\n".join(f"- item {i} with **bold** words" for i in range(500))
    text = mrkdwn(long, limit=2900)
    assert len(text) <= 2900 and text.startswith("*Title*") and text.endswith("…")
    assert "• item 0 with *bold* words" in text


def test_an_ongoing_tick_posts_nothing_and_the_resolution_replies_in_the_incident_thread(world, standin):
    dispatcher, _client, _pm = world
    _incident(dispatcher, "inc-slk9", None, None)
    root = standin.wait_for("chat.postMessage", lambda c: "inc-slk9" in json.dumps(c.args.get("blocks")),
                            channel=CHANNEL)
    now = time.time()
    calls = len(standin.of("chat.postMessage"))
    for tick, change in (("ongoing", ""), ("clearing", ""), ("resolved", "resolved after 3 quiet ticks")):
        dispatcher.on_scheduled_run(RunRecord(
            model="churn", started_at=now, finished_at=now, status="ok" if tick != "ongoing" else "incident",
            via="scheduler", incident_id="inc-slk9", detail=f"inc-slk9: {tick}", tick=tick, change=change))
    reply = standin.wait_for("chat.postMessage", lambda c: "inc-slk9: resolved" in c.args.get("text", ""))
    assert reply.args["thread_ts"] == root.answer["ts"] and reply.args["reply_broadcast"] in (True, "true", "1")
    assert len(standin.of("chat.postMessage")) == calls + 1  # the ongoing and clearing ticks posted nothing
