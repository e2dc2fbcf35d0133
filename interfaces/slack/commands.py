"""Slack's ``/opsagent`` commands and ``@opsagent`` mentions, answered through the dispatcher.

``/opsagent status|triage|ask|approvals [MODEL]`` is acknowledged at once (Slack wants an answer within 3 s);
the work then runs on Bolt's listener thread and answers through the command's ``response_url``. A mention is
answered in its thread by the chat graph; one chat thread per Slack thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from interfaces.dispatch import Dispatcher, DispatchError
from interfaces.slack import blocks as bk
from interfaces.slack.replies import Respond, log_slack_errors, safe_respond

logger = logging.getLogger(__name__)

COMMAND = "/opsagent"
HELP = ("*opsagent* — `/opsagent <command>`:\n"
        "• `status [MODEL]` — where a model stands: champion, canary, serving\n"
        "• `triage [MODEL]` — investigate now; the result is posted to the ops channel\n"
        "• `ask <question>` — ask the ops assistant (e.g. `ask why did churn F1 drop?`)\n"
        "• `approvals [MODEL]` — proposals waiting for approval, with Approve / Edit / Reject\n"
        "You can also mention me in a channel: `@opsagent compare 1 2`.")
_MENTION = re.compile(r"<@[A-Z0-9]+(\|[^>]*)?>")


class CommandListeners:
    """Slash commands and mentions; each catches its own errors so a person never sees a traceback."""

    def __init__(self, dispatcher: Dispatcher):
        self.dispatcher = dispatcher

    # ---- /opsagent -------------------------------------------------------------------------------
    def on_command(self, ack: Callable[..., Any], command: dict[str, Any], respond: Respond) -> None:
        sub, _, rest = str(command.get("text") or "").strip().partition(" ")
        sub, rest = sub.lower(), rest.strip()
        user, channel = str(command.get("user_id") or "unknown"), str(command.get("channel_id") or "unknown")
        handlers = {"status": self._status, "triage": self._triage, "ask": self._ask, "approvals": self._approvals}
        if sub not in handlers or (sub == "ask" and not rest):
            prefix = f"I don't know `{sub}`.\n" if sub not in handlers and sub not in ("", "help") else ""
            if sub == "ask":
                prefix = "`ask` needs a question, e.g. `/opsagent ask why did churn F1 drop?`\n"
            ack(text=prefix + HELP, response_type="ephemeral")
            return
        target = rest.split()[0] if rest.split() else self.dispatcher.settings.model_name
        intro = {"status": f"Looking up {target}…", "triage": f"Starting a triage of {target}…", "ask": "Thinking…",
                 "approvals": "Fetching the proposals waiting for approval…"}[sub]
        ack(text=intro, response_type="ephemeral")
        try:
            handlers[sub](rest, user=user, channel=channel, respond=respond)
        except DispatchError as exc:
            safe_respond(respond, text=f":warning: {exc}")
        except Exception as exc:
            logger.exception("/opsagent %s failed", sub)
            safe_respond(respond, text=f":x: `/opsagent {sub}` failed: {type(exc).__name__}: {exc}")

    def _model(self, arg: str) -> str:
        name = arg.split()[0] if arg.split() else self.dispatcher.settings.model_name
        known = self.dispatcher.models()
        if name not in known:
            raise DispatchError(f"no registered model '{name}'; registered: {', '.join(known) or 'none yet'}")
        return name

    def _status(self, arg: str, *, user: str, channel: str, respond: Respond) -> None:
        model = self._model(arg)
        body = self.dispatcher.model_status(model)
        pending = self.dispatcher.ctx.approvals.pending(model)
        more = f"\n{len(pending)} proposal(s) waiting: `/opsagent approvals {model}`" if pending else ""
        respond(text=bk.mrkdwn(f"*Status of {model}*\n{body}{more}"), response_type="in_channel")

    def _triage(self, arg: str, *, user: str, channel: str, respond: Respond) -> None:
        job = self.dispatcher.start_triage(self._model(arg), actor=user, via="slack")
        where = self.dispatcher.settings.slack_channel
        if where:
            respond(text=f"Triage of *{job.model}* is running (`{job.id}`); the result will be posted in <#{where}>.",
                    response_type="in_channel")
            return
        respond(text=f"Triage of *{job.model}* is running (`{job.id}`); I'll answer here when it is done.")
        done = self.dispatcher.wait(job.id, timeout=25 * 60)  # a response_url lives 30 minutes
        safe_respond(respond, text=bk.truncate(f"Triage of *{job.model}*: {done.message}"))

    def _ask(self, arg: str, *, user: str, channel: str, respond: Respond) -> None:
        answer, brain = self.dispatcher.chat(arg, thread_id=f"slack-{channel}-{user}", actor=user, via="slack")
        respond(text=bk.mrkdwn(f"> {bk.truncate(arg, 300)}\n{answer or '(no answer)'}\n_{brain}_"),
                response_type="in_channel")

    def _approvals(self, arg: str, *, user: str, channel: str, respond: Respond) -> None:
        model = self._model(arg) if arg.split() else None
        pending = [r.proposal for r in self.dispatcher.pending() if model is None or r.proposal.model == model]
        respond(text=f"{len(pending)} proposal(s) waiting for approval", blocks=bk.pending_list_blocks(pending))

    # ---- @opsagent -------------------------------------------------------------------------------
    def on_mention(self, event: dict[str, Any], client: WebClient) -> None:
        channel, user = event.get("channel"), str(event.get("user") or "unknown")
        thread_ts = event.get("thread_ts") or event.get("ts")
        if not channel or not thread_ts:
            logger.warning("Slack: an app_mention without channel or ts; ignored")
            return
        question = _MENTION.sub("", str(event.get("text") or "")).strip()
        try:
            if not question:
                text = HELP
            else:
                answer, brain = self.dispatcher.chat(question, thread_id=f"slack-{channel}-{thread_ts}", actor=user,
                                               via="slack")
                text = bk.mrkdwn(f"{answer or '(no answer)'}\n_{brain}_")
        except DispatchError as exc:
            text = f":warning: {exc}"
        except Exception as exc:
            logger.exception("answering a mention failed")
            text = f":x: that failed: {type(exc).__name__}: {exc}"
        log_slack_errors(lambda: client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text))

