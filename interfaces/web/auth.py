"""Who is signed in to the web page: users and their tokens, signed session cookies, CSRF and Origin checks.

Two ways in: a login form (user + token) that sets a signed, HttpOnly, SameSite=Strict cookie carrying a
per-session CSRF token, or ``Authorization: Bearer <token>`` for API clients (no cookie, so no CSRF risk).
Every state-changing request with a cookie session must echo the CSRF token (form field ``csrf_token`` or
header ``X-CSRF-Token``), and no POST may come from another origin.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from agent.settings import Settings
from ml_core.paths import HomeLayout

COOKIE = "opsagent_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 12 * 3600  # a day's shift; then sign in again
SECRET_FILE = "web_secret"


def resolve_users(settings: Settings) -> tuple[dict[str, str], str | None]:
    """Users (name -> token) from ``web_users`` plus ``operator`` from ``web_token``.

    With neither set, a random token is made for ``operator`` and returned as the second element so
    `opsagent serve` can print it (like Jupyter); otherwise the second element is None.
    """
    users = {name: secret.get_secret_value() for name, secret in settings.web_users.items()
             if name.strip() and secret.get_secret_value()}
    if settings.web_token is not None and settings.web_token.get_secret_value():
        users["operator"] = settings.web_token.get_secret_value()
    if users:
        return users, None
    token = secrets.token_urlsafe(24)
    return {"operator": token}, token


def session_secret(layout: HomeLayout) -> bytes:
    """The key that signs session cookies, kept in ``OPSAGENT_HOME/web_secret`` (mode 0600) so sessions
    survive a restart. Made on first use; deleting the file signs everybody out."""
    path: Path = layout.home / SECRET_FILE
    layout.home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes().strip()
        if len(secret) >= 32:
            return secret
        path.unlink()  # empty or truncated (a crash while writing): make a new one
        return session_secret(layout)
    with os.fdopen(fd, "wb") as handle:
        secret = secrets.token_hex(32).encode()
        handle.write(secret)
    return secret


@dataclass(frozen=True)
class Identity:
    """A signed-in person; ``csrf`` is None for bearer-token clients, who carry no cookie."""

    user: str
    csrf: str | None = None


def _fingerprint(token: str) -> str:
    # A changed token ends the sessions signed in with the old one.
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class WebAuth:
    """Checks tokens, issues and reads session cookies, and guards POSTs (CSRF, Origin)."""

    def __init__(self, users: dict[str, str], secret: bytes, *, public_url: str | None = None):
        if not users:
            raise ValueError("the web page needs at least one user; see resolve_users")
        self.users = dict(users)
        self.serializer = URLSafeTimedSerializer(secret, salt="opsagent-web-session")
        self.public_origin = _origin(public_url) if public_url else None

    # ---- tokens ----------------------------------------------------------------------------------
    def check_login(self, user: str, token: str) -> bool:
        expected = self.users.get(user)
        # compare something even for unknown users, so timing does not tell which names exist
        return hmac.compare_digest((expected or "\0").encode(), token.encode()) and expected is not None

    def bearer_user(self, token: str) -> str | None:
        found = None
        for name, expected in self.users.items():  # check all: the time taken does not depend on which matched
            if hmac.compare_digest(expected.encode(), token.encode()):
                found = name
        return found

    # ---- cookies ---------------------------------------------------------------------------------
    def issue(self, user: str) -> tuple[str, str]:
        """A new session for ``user``: (cookie value, its CSRF token)."""
        csrf = secrets.token_urlsafe(24)
        value = self.serializer.dumps({"u": user, "c": csrf, "k": _fingerprint(self.users[user])})
        return value, csrf

    def read_cookie(self, value: str | None) -> Identity | None:
        if not value:
            return None
        try:
            data = self.serializer.loads(value, max_age=SESSION_MAX_AGE_S)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        user, csrf = data.get("u"), data.get("c")
        token = self.users.get(user) if isinstance(user, str) else None
        if token is None or not isinstance(csrf, str) or data.get("k") != _fingerprint(token):
            return None
        return Identity(user=user, csrf=csrf)  # type: ignore[arg-type]

    def identify(self, request: Request) -> Identity | None:
        """The bearer token if the request has one (a wrong one is not rescued by a cookie), else the cookie."""
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            user = self.bearer_user(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            return Identity(user=user) if user else None
        return self.read_cookie(request.cookies.get(COOKIE))

    # ---- POST guards -----------------------------------------------------------------------------
    def check_origin(self, request: Request) -> None:
        """Refuse a POST whose Origin is another site (browsers send it on cross-origin POSTs)."""
        origin = request.headers.get("origin")
        if origin is None:
            return  # not a browser cross-site request (curl, httpx); the CSRF token still applies to cookies
        allowed = {_origin(str(request.base_url)), self.public_origin}
        if origin.rstrip("/") not in allowed:
            raise HTTPException(403, f"cross-origin request from {origin} refused")

    def check_csrf(self, identity: Identity, sent: str | None) -> None:
        if identity.csrf is None:
            return  # bearer token: a browser never adds it on its own
        if not sent or not hmac.compare_digest(sent.encode(), identity.csrf.encode()):
            raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".rstrip("/")
