"""Dispatcher events → Slack messages in ``settings.slack_channel``:
``dispatcher.subscribe(SlackNotifier(dispatcher, client))``.

An incident is one top-level message (the diagnosis, and the proposal with its buttons); its post-mortem,
"remediation started", the outcome and any refusal are replies in that message's thread. Promotions,
rollbacks and failures are also broadcast to the channel. A failing Slack (an API error, no network) is
logged and never reaches the dispatcher: the job that published the event carries on.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from interfaces.dispatch import Dispatcher, Event
from interfaces.slack.blocks import decided_blocks, incident_blocks, mrkdwn, outcome_text, truncate
from interfaces.slack.threads import SlackThread, ThreadMap, thread_map

logger = logging.getLogger(__name__)

_THREADED = frozenset({"remediation_started", "remediation", "answered", "refused"})
_BROADCAST = re.compile(r"promot|rolled back|roll(ed)?[- ]back", re.IGNORECASE)


class SlackNotifier:
    """A dispatcher subscriber that posts events to the configured channel (and nothing if none is configured)."""

    def __init__(self, dispatcher: Dispatcher, client: WebClient, *, threads: ThreadMap | None = None):
        self.dispatcher = dispatcher
        self.client = client
        self.channel = dispatcher.settings.slack_channel
        self.threads = threads or thread_map(dispatcher.ctx.layout)

    def __call__(self, event: Event) -> None:
        """Post one event; Slack errors are logged, never raised."""
        if not self.channel:
            return
        try:
            self._post(event)
        except (SlackApiError, SlackClientError, OSError) as exc:  # OSError: refused, DNS, timeouts
            logger.warning("Slack: could not post the %s event for %s: %s", event.kind,
                           event.incident_id or event.proposal_id or event.model, _reason(exc))
        except Exception:  # a bug here must not break the dispatcher job that published the event
            logger.exception("Slack: posting the %s event failed", event.kind)

    # ---- per kind --------------------------------------------------------------------------------
    def _post(self, event: Event) -> None:
        assert self.channel is not None
        if event.kind == "incident":
            self._incident(event)
        elif event.kind == "quiet":
            logger.info("Slack: %s", event.text)  # nothing found: not worth a message
        elif event.kind == "triage_failed":
            self.client.chat_postMessage(channel=self.channel, text=f":warning: {truncate(event.text, 2900)}")
        elif event.kind in _THREADED:
            self._threaded(event)
        elif event.kind == "resolved":
            self._resolved(event)

    def _resolved(self, event: Event) -> None:
        """An incident closed itself: said in its thread and shown in the channel, as its opening was."""
        assert self.channel is not None
        text = f":large_green_circle: {truncate(event.text, 2900)}"
        thread = self.threads.find(event.incident_id, None)
        if thread is None:
            self.client.chat_postMessage(channel=self.channel, text=text)
        else:
            self.client.chat_postMessage(channel=thread.channel, thread_ts=thread.ts, text=text, reply_broadcast=True)

    def _incident(self, event: Event) -> None:
        assert self.channel is not None
        proposal = None
        if event.proposal_id:
            try:
                proposal = self.dispatcher.ctx.approvals.get(event.proposal_id).proposal
            except Exception:  # a proposal we cannot read: post the incident without buttons
                logger.warning("Slack: proposal %s of incident %s not readable", event.proposal_id, event.incident_id)
        web = self.dispatcher.settings.web_url
        blocks = incident_blocks(event.text, model=event.model, incident_id=event.incident_id, web_url=web,
                                 proposal=proposal)
        resp = self.client.chat_postMessage(channel=self.channel, text=truncate(event.text, 2900), blocks=blocks)
        channel, ts = str(resp.get("channel") or self.channel), str(resp["ts"])
        if event.incident_id:
            self.threads.remember("incident", event.incident_id, channel, ts)
        if proposal is not None:
            self.threads.remember("proposal", proposal.id, channel, ts)
        self.client.chat_postMessage(channel=channel, thread_ts=ts, text=self._postmortem_text(event))

    def _postmortem_text(self, event: Event) -> str:
        link = f"{self.dispatcher.settings.web_url}/incidents/{event.incident_id}" if event.incident_id else None
        body = ""
        if event.postmortem:
            try:
                body = mrkdwn(Path(event.postmortem).read_text(encoding="utf-8"), limit=2900)
            except OSError as exc:
                body = f"(the post-mortem file could not be read: {exc.strerror or exc})"
        if not body:
            body = "No post-mortem was written for this incident."
        return body + (f"\n\n<{link}|The whole post-mortem and its evidence>" if link else "")

    def _threaded(self, event: Event) -> None:
        assert self.channel is not None
        thread = self.threads.find(event.incident_id, event.proposal_id)
        text = outcome_text(event.kind, event.text, event.status, event.steps)
        if thread is None:  # filed from chat or the web: the outcome starts its own thread
            resp = self.client.chat_postMessage(channel=self.channel, text=text)
            if event.proposal_id:
                self.threads.remember("proposal", event.proposal_id, str(resp.get("channel") or self.channel),
                                      str(resp["ts"]))
            return
        broadcast = event.kind == "remediation" and (event.status == "failed" or bool(_BROADCAST.search(event.text)))
        self.client.chat_postMessage(channel=thread.channel, thread_ts=thread.ts, text=text, reply_broadcast=broadcast)
        if event.via != "slack":  # answered on the web: take the buttons off the Slack message too
            self._mark_decided(event, thread)

    def _mark_decided(self, event: Event, thread: SlackThread) -> None:
        if event.kind not in ("remediation_started", "answered") or not event.proposal_id:
            return
        if self.threads.get("proposal", event.proposal_id) != thread:
            return  # the proposal is not in that message
        record = self.dispatcher.ctx.approvals.get(event.proposal_id)
        if event.kind == "answered" and record.status == "pending":
            return  # a comment: the proposal waits for an approver again, its buttons stay
        # "started" is published before the job runs, while the record still says pending.
        decision = "approved" if event.kind == "remediation_started" else record.status
        blocks: list[dict[str, Any]] = []
        incident_id = self.threads.incident_at(thread)  # the proposal sits in its incident's message
        if incident_id:
            blocks = incident_blocks(self._incident_summary(incident_id), model=event.model,
                                     incident_id=incident_id, web_url=self.dispatcher.settings.web_url, proposal=None)
            blocks.append({"type": "divider"})
        blocks += decided_blocks(record.proposal, decision=decision, by=event.actor, note=f"via {event.via}")
        self.client.chat_update(channel=thread.channel, ts=thread.ts, text=truncate(event.text, 2900), blocks=blocks)

    def _incident_summary(self, incident_id: str) -> str:
        try:
            return self.dispatcher.ctx.incidents.get(incident_id).summary or incident_id
        except Exception:
            return incident_id


def _reason(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or exc)
    return f"{type(exc).__name__}: {exc}"
