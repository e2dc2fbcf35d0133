"""The opsagent Slack bot: a Bolt app whose listeners reach the dispatcher (chat, triage, the approvals inbox).

- ``/opsagent status|triage|ask|approvals [MODEL]`` and ``@opsagent <question>``: ``commands``;
- Approve / Edit / Reject buttons on proposals and the edit modal: ``buttons``.

HTTP mode: mount it with ``interfaces.slack.http.mount_slack``; Socket Mode: ``start_socket_mode``.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient

from interfaces.dispatch import Dispatcher
from interfaces.slack import blocks as bk
from interfaces.slack.buttons import ButtonListeners
from interfaces.slack.commands import COMMAND, CommandListeners
from interfaces.slack.threads import thread_map


def build_slack_app(dispatcher: Dispatcher, *, client: WebClient | None = None) -> App:
    """The Bolt app for ``dispatcher``: token and signing secret from ``dispatcher.settings``; signature checks on.

    ``client`` defaults to a ``WebClient`` on ``settings.slack_api_base_url`` (tests: a stand-in). Nothing
    calls Slack here (token verification is off), so `opsagent serve` starts even when Slack is unreachable.
    """
    s = dispatcher.settings
    if client is None:
        if s.slack_bot_token is None:
            raise ValueError("Slack needs a bot token: set SLACK_BOT_TOKEN (xoxb-...)")
        kwargs: dict[str, Any] = {"base_url": s.slack_api_base_url} if s.slack_api_base_url else {}
        client = WebClient(token=s.slack_bot_token.get_secret_value(), **kwargs)
    secret = s.slack_signing_secret.get_secret_value() if s.slack_signing_secret else ""
    if not secret and not s.slack_socket_mode:
        raise ValueError("Slack over HTTP needs the signing secret to verify requests: set SLACK_SIGNING_SECRET")
    app = App(client=client, signing_secret=secret, token_verification_enabled=False, name="opsagent",
              request_verification_enabled=bool(secret) or not s.slack_socket_mode)
    register(app, dispatcher)
    return app


def start_socket_mode(bolt_app: App, app_token: str) -> SocketModeHandler:
    """Connect ``bolt_app`` to Slack over Socket Mode (a WebSocket opened from here; no public URL needed).

    Non-blocking: ``connect()`` returns once the connection is up and events arrive on the handler's own
    threads. Call ``handler.close()`` to disconnect (``opsagent serve`` does on shutdown). ``app_token`` is
    the ``xapp-...`` app-level token with the ``connections:write`` scope.
    """
    handler = SocketModeHandler(bolt_app, app_token=app_token)
    handler.connect()
    return handler


def register(app: App, dispatcher: Dispatcher) -> None:
    """Every listener of the bot on ``app``."""
    commands = CommandListeners(dispatcher)
    buttons = ButtonListeners(dispatcher, thread_map(dispatcher.ctx.layout))
    app.command(COMMAND)(commands.on_command)
    app.event("app_mention")(commands.on_mention)
    app.action(bk.APPROVE)(buttons.on_approve)
    app.action(bk.REJECT)(buttons.on_reject)
    app.action(bk.EDIT)(buttons.on_edit)
    app.view(bk.EDIT_VIEW)(buttons.on_edit_submit)
    app.event("message")(lambda: None)  # plain channel messages: acknowledged, not answered
