"""The Slack Request URL on the FastAPI app of `opsagent serve`: slash commands, events and interactivity.

Bolt's sync ``App.dispatch`` blocks until the listener calls ``ack()`` (up to 3 s), so it runs in a worker
thread, never on the event loop. Bolt checks the signature (401 when forged or older than 5 minutes);
this layer refuses what Bolt should never see: bodies over 1 MB (413) and bodies that are not a Slack
payload at all (400).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # Slack's payloads are a few KB; anything near this is not from Slack


def mount_slack(app: FastAPI, bolt_app: App, path: str = "/slack/events") -> None:
    """Serve ``bolt_app`` at ``POST path`` on ``app`` (the one Request URL to give Slack for everything)."""

    @app.post(path, include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return _too_large()
        body = bytearray()
        async for chunk in request.stream():  # counts what arrives, whatever the header claimed
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _too_large()
        try:
            bolt_request = to_bolt_request(request, bytes(body))
        except Exception as exc:  # not UTF-8, not JSON, JSON that is not an object
            logger.info("Slack endpoint: unreadable body (%s: %s)", type(exc).__name__, exc)
            return JSONResponse({"error": "bad request: the body is not a Slack payload (form-encoded command, "
                                          "payload= form or JSON event)"}, status_code=400)
        bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        if bolt_response.status >= 500:  # a listener broke before ack(): say so without a traceback
            return JSONResponse({"error": "opsagent could not handle this Slack request; see the server log"},
                                status_code=500)
        return to_starlette_response(bolt_response)


def _too_large() -> JSONResponse:
    return JSONResponse({"error": f"request body over {MAX_BODY_BYTES} bytes; Slack payloads are much smaller"},
                        status_code=413)
