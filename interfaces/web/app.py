"""The opsagent web page as one FastAPI app: chat, approvals inbox, incidents, models (see pages.py, api.py).

`opsagent serve` builds the dispatcher, calls ``create_web_app`` and adds its own routes (Slack's) to the app.
The app starts and stops nothing: the caller owns the dispatcher and the scheduler.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import jinja2
import markupsafe
from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from interfaces.dispatch import Dispatcher
from interfaces.web import api, health, ingest_api, metrics, pages
from interfaces.web.auth import WebAuth
from interfaces.web.deps import LoginRequired
from interfaces.web.evidence import TIME_FIELDS, render_markdown
from interfaces.web.limits import WebLimits
from interfaces.web.sessions import SessionRevocations
from interfaces.web.threads import ThreadIndex

HERE = Path(__file__).parent
JSON_PREFIXES = ("/api/", "/healthz", "/slack/", "/metrics")


def _when(t: float | None) -> str:
    if not t:
        return "-"
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def templates() -> jinja2.Environment:
    """The page templates; autoescape is on for every template, so all values are escaped."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    env.filters["when"] = _when
    env.globals["time_fields"] = TIME_FIELDS  # proposal fields the edit form shows as dates
    # Chat answers are Markdown; markdown-it escapes raw HTML and refuses javascript: links, so it is safe.
    env.filters["markdown"] = lambda text: markupsafe.Markup(render_markdown(str(text or "")))
    return env


def create_web_app(dispatcher: Dispatcher, *, users: dict[str, str], session_secret: bytes) -> FastAPI:
    """The web app for ``dispatcher``: ``users`` maps user name -> sign-in token; ``session_secret`` signs cookies.

    ``GET /healthz`` answers without sign-in; everything else needs a session or a bearer token.
    """
    app = FastAPI(title="opsagent", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dispatcher = dispatcher
    layout = dispatcher.ctx.layout
    app.state.web_auth = WebAuth(users, session_secret, public_url=dispatcher.settings.web_public_url,
                                 revocations=SessionRevocations.for_home(layout))
    app.state.templates = templates()
    app.state.incidents = dispatcher.ctx.incidents
    app.state.threads = ThreadIndex.for_home(layout)
    app.state.metrics = metrics.ServeMetrics(dispatcher)  # GET /metrics (Prometheus), signed in like the API
    app.add_middleware(WebLimits)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(ingest_api.router)
    app.include_router(metrics.router)
    app.include_router(pages.router)
    app.include_router(health.router)  # the model health page and its JSON

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # People get a page saying what went wrong; API clients (and Slack's routes) keep FastAPI's JSON.
        wants_html = "text/html" in request.headers.get("accept", "")
        if request.url.path.startswith(JSON_PREFIXES) or not wants_html or exc.status_code in (401, 429):
            return await http_exception_handler(request, exc)
        identity = app.state.web_auth.identify(request)
        return pages.render(request, "error.html", identity, status=exc.status_code, code=exc.status_code,
                            message=exc.detail)

    return app
