"""Talking back to the person who clicked or typed: who clicked what where (``Click``), ephemeral notes,
modal errors, and Slack calls whose failure is logged, never raised (Slack down must not break a job)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

logger = logging.getLogger(__name__)

Respond = Callable[..., Any]


class Click:
    """What a block action (or the edit modal's metadata) says about who clicked what, where."""

    def __init__(self, *, user: str, proposal_id: str | None, channel: str | None, ts: str | None, ephemeral: bool,
                 response_url: str | None, blocks: list[dict[str, Any]] | None, trigger_id: str | None = None):
        self.user, self.proposal_id, self.channel, self.ts = user, proposal_id, channel, ts
        self.ephemeral, self.response_url, self.blocks, self.trigger_id = ephemeral, response_url, blocks, trigger_id

    @classmethod
    def of(cls, body: dict[str, Any]) -> Click:
        actions = body.get("actions") or [{}]
        container = body.get("container") or {}
        message = body.get("message") or {}
        value = str(actions[0].get("value") or "").strip() if isinstance(actions[0], dict) else ""
        return cls(user=str((body.get("user") or {}).get("id") or "unknown"), proposal_id=value or None,
                   channel=container.get("channel_id") or (body.get("channel") or {}).get("id"),
                   ts=container.get("message_ts") or message.get("ts"),
                   ephemeral=bool(container.get("is_ephemeral")), response_url=body.get("response_url"),
                   blocks=message.get("blocks"), trigger_id=body.get("trigger_id"))

    def tell(self, client: WebClient, respond: Respond | None, text: str) -> None:
        """An ephemeral note to the person who clicked (a refusal, a proposal no longer pending)."""
        if self.channel and not self.ephemeral:
            channel = self.channel
            log_slack_errors(lambda: client.chat_postEphemeral(channel=channel, user=self.user, text=text))
        elif respond is not None and self.response_url:
            safe_respond(respond, text=text, response_type="ephemeral", replace_original=False)


def first_error(view: dict[str, Any], message: str) -> dict[str, str]:
    """Errors for a modal, on its first input block (Slack shows view errors next to an input)."""
    inputs = [b.get("block_id") for b in view.get("blocks") or [] if b.get("type") == "input" and b.get("block_id")]
    return {str(inputs[0]) if inputs else "epochs": message}


def log_slack_errors(call: Callable[[], Any]) -> None:
    try:
        call()
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.warning("Slack call failed: %s", exc)


def safe_respond(respond: Respond, **kwargs: Any) -> None:
    try:
        respond(**kwargs)
    except Exception as exc:  # the response_url expired or Slack is unreachable: nothing more we can do
        logger.warning("Slack respond() failed: %s", exc)
