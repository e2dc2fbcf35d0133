"""`opsagent serve`: the web page, the Slack endpoint and the scheduler in one process, on one dispatcher.

Start-up builds the dispatcher (interfaces.dispatch), the web app (interfaces.web), the Slack app mounted at
``/slack/events`` (or a Socket Mode connection) when a bot token and signing secret are set, and the triage
scheduler whose results go to the dispatcher's subscribers (the Slack channel, the web page's events).

Shutdown (Ctrl-C, SIGTERM): uvicorn stops taking requests and gives open ones a few seconds; then the
scheduler stops starting runs, and running triages and remediations get ``shutdown_grace_s`` to finish.
Each graph step is checkpointed and each store write is one SQLite transaction, so even a run cut off at
the grace leaves its last checkpoint, never a half-written record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from agent.settings import Settings
from interfaces.dispatch import ContextFactory, Dispatcher, default_context
from interfaces.scheduler import TriageScheduler

logger = logging.getLogger(__name__)


@dataclass
class OpsServer:
    """Everything `opsagent serve` runs, built but not yet started (tests start it on a free port)."""

    settings: Settings
    dispatcher: Dispatcher
    app: FastAPI
    scheduler: TriageScheduler | None
    generated_token: str | None  # printed once at start-up when no sign-in token is configured
    slack: str  # how Slack is connected: "http /slack/events", "socket mode", or why it is off
    _socket: Any = None
    stopped: list[str] = field(default_factory=list)  # jobs still running at the end of the grace

    def start_background(self) -> None:
        """Start the scheduler (the web app is started by uvicorn), and take over in the background any
        remediation a stopped process left unfinished (graphs.recovery)."""
        if self.scheduler is not None:
            self.scheduler.start()
        self.dispatcher.recover_stranded()

    def stop(self) -> None:
        """Stop starting work, then give running triages and remediations the grace to finish."""
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        if self._socket is not None:
            try:
                self._socket.close()
            except Exception:
                logger.exception("closing the Slack Socket Mode connection failed")
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.scheduler.pause()  # no new runs; running ones finish below
            stopper = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
            stopper.start()
            stopper.join(max(0.0, deadline - time.monotonic()))
            if stopper.is_alive():
                self.stopped.append("a scheduled triage")
        self.stopped += [j.id for j in self.dispatcher.shutdown(grace_s=max(0.0, deadline - time.monotonic()))]


def build_server(settings: Settings, *, context_factory: ContextFactory = default_context,
                 with_scheduler: bool = True, slack_client: Any = None) -> OpsServer:
    """Build the dispatcher, the web app, Slack (when configured) and the scheduler from settings."""
    from interfaces.web.app import create_web_app
    from interfaces.web.auth import resolve_users, session_secret

    dispatcher = Dispatcher(settings, context_factory=context_factory)
    users, generated = resolve_users(settings)
    app = create_web_app(dispatcher, users=users, session_secret=session_secret(settings.layout.ensure()))
    slack, socket = _connect_slack(settings, dispatcher, app, slack_client)
    # Scheduled runs get their context from the same factory as the web page's and Slack's work.
    scheduler = TriageScheduler(settings, on_result=dispatcher.on_scheduled_run,
                                make_context=lambda _model: dispatcher.job_context("scheduler", "scheduler")
                                ) if with_scheduler else None
    server = OpsServer(settings=settings, dispatcher=dispatcher, app=app, scheduler=scheduler,
                       generated_token=generated, slack=slack, _socket=socket)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        server.start_background()
        try:
            yield
        finally:
            from starlette.concurrency import run_in_threadpool

            await run_in_threadpool(server.stop)

    app.router.lifespan_context = lifespan
    return server


def _connect_slack(settings: Settings, dispatcher: Dispatcher, app: FastAPI, client: Any) -> tuple[str, Any]:
    if not settings.slack_bot_token:
        return "off (set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable it)", None
    if settings.slack_socket_mode and not settings.slack_app_token:
        return "off (Socket Mode needs SLACK_APP_TOKEN, an xapp- token)", None
    if not settings.slack_socket_mode and not settings.slack_signing_secret:
        return "off (HTTP mode needs SLACK_SIGNING_SECRET to verify Slack's requests)", None
    from interfaces.slack.app import build_slack_app, start_socket_mode
    from interfaces.slack.http import mount_slack
    from interfaces.slack.notifier import SlackNotifier

    bolt = build_slack_app(dispatcher, client=client)
    dispatcher.subscribe(SlackNotifier(dispatcher, bolt.client))
    if settings.slack_app_token and settings.slack_socket_mode:
        return "socket mode", start_socket_mode(bolt, settings.slack_app_token.get_secret_value())
    mount_slack(app, bolt, path="/slack/events")
    return f"http, request URL {settings.web_url}/slack/events", None


def run(server: OpsServer, *, host: str, port: int, log_level: str = "warning") -> str | None:
    """Serve until Ctrl-C / SIGTERM, then stop cleanly; returns the name of the signal that stopped it.

    uvicorn handles the signals (graceful shutdown, then the lifespan's ``server.stop``) and afterwards
    re-raises them to the handlers that were there before; ours only note the signal, so the caller can
    report the clean stop and exit 0 instead of dying by the signal's default action.
    """
    import signal

    import uvicorn

    received: list[str] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signal.Signals(signum).name))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        config = uvicorn.Config(server.app, host=host, port=port, log_level=log_level, access_log=False,
                                timeout_graceful_shutdown=5, timeout_keep_alive=75, lifespan="on")
        uvicorn.Server(config).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0] if received else None
