"""FastAPI dependencies for every route of the web page: who is asking, and may this POST change anything.

Per-route dependencies (not a middleware) so the routes `opsagent serve` adds (Slack's) keep their own checks.
Unauthenticated: pages redirect to /login, API calls and POSTs get 401; an address locked out after too many
wrong bearer tokens gets 429 with ``Retry-After``. Checks run before any handler body, so a refused request
changes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import HTTPException, Request

from interfaces.web.auth import CSRF_FIELD, CSRF_HEADER, Identity, SignInThrottled, WebAuth

if TYPE_CHECKING:
    from interfaces.dispatch import Dispatcher


class LoginRequired(Exception):
    """A page was asked for without a session: the app answers with a redirect to /login."""

    def __init__(self, next_path: str):
        self.next_path = next_path


def auth_of(request: Request) -> WebAuth:
    return request.app.state.web_auth  # type: ignore[no-any-return]


def dispatcher_of(request: Request) -> Dispatcher:
    return request.app.state.dispatcher  # type: ignore[no-any-return]


def too_many(exc: SignInThrottled) -> HTTPException:
    return HTTPException(429, f"{exc}; check the token", headers={"Retry-After": str(exc.retry_after)})


def _authenticated(request: Request) -> Identity | None:
    try:
        return auth_of(request).authenticate(request)
    except SignInThrottled as exc:
        raise too_many(exc) from None


def page_user(request: Request) -> Identity:
    """A page (GET): signed in, or redirected to the login form."""
    identity = _authenticated(request)
    if identity is None:
        raise LoginRequired(request.url.path)
    return identity


def api_user(request: Request) -> Identity:
    """A JSON read: signed in (cookie or bearer token), or 401."""
    identity = _authenticated(request)
    if identity is None:
        raise HTTPException(401, "sign in first: POST /login, or send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    return identity


def api_post(request: Request) -> Identity:
    """A JSON POST: signed in, same origin, and (with a cookie) the CSRF token in ``X-CSRF-Token``."""
    identity = api_user(request)
    auth = auth_of(request)
    auth.check_origin(request)
    auth.check_csrf(identity, request.headers.get(CSRF_HEADER))
    return identity


async def form_post(request: Request) -> Identity:
    """A form POST: signed in (else 401), same origin, and the CSRF token as a form field or header."""
    identity = api_user(request)
    auth = auth_of(request)
    auth.check_origin(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and identity.csrf is not None:
        form = await request.form()  # Starlette caches it: the handler reads the same form
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    auth.check_csrf(identity, sent)
    return identity
