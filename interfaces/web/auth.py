"""Who is signed in to the web page: users and their tokens, signed session cookies, CSRF and Origin checks.

Two ways in: a login form (user + token) that sets a signed, HttpOnly, SameSite=Strict cookie carrying a
per-session CSRF token, or ``Authorization: Bearer <token>`` for API clients (no cookie, so no CSRF risk).
Every state-changing request with a cookie session must echo the CSRF token (form field ``csrf_token`` or
header ``X-CSRF-Token``), and no POST may come from another origin.

Failed sign-ins (the form and bearer tokens) are throttled per user and per address (``throttle``), and signing
out revokes the session on the server (``sessions``): a copied cookie stops working too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from agent.settings import Settings
from interfaces.web.sessions import SessionRevocations
from interfaces.web.throttle import SignInThrottle
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
    """A signed-in person; ``csrf`` and ``session`` are None for bearer-token clients, who carry no cookie."""

    user: str
    csrf: str | None = None
    session: str | None = None  # the cookie's session id, which signing out revokes
    issued_at: float | None = None


class SignInThrottled(Exception):
    """Too many failed sign-ins for this user or address; try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins from this user or address; try again in {retry_after} s")
        self.retry_after = retry_after


def _fingerprint(token: str) -> str:
    # A changed token ends the sessions signed in with the old one.
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class WebAuth:
    """Checks tokens, issues and reads session cookies, and guards POSTs (CSRF, Origin)."""

    def __init__(self, users: dict[str, str], secret: bytes, *, public_url: str | None = None,
                 revocations: SessionRevocations | None = None, throttle: SignInThrottle | None = None):
        if not users:
            raise ValueError("the web page needs at least one user; see resolve_users")
        self.users = dict(users)
        self.serializer = URLSafeTimedSerializer(secret, salt="opsagent-web-session")
        self.public_origin = _origin(public_url) if public_url else None
        self.revocations = revocations  # None: sessions end only when their cookie expires (tests of cookies alone)
        self.throttle = throttle or SignInThrottle()

    # ---- tokens ----------------------------------------------------------------------------------
    def check_login(self, user: str, token: str, *, address: str | None = None) -> bool:
        """Whether ``token`` is ``user``'s; raises ``SignInThrottled`` (without checking) while either is locked."""
        wait = self.throttle.retry_after(user=user, address=address)
        if wait is not None:
            raise SignInThrottled(wait)
        expected = self.users.get(user)
        # compare something even for unknown users, so timing does not tell which names exist
        ok = hmac.compare_digest((expected or "\0").encode(), token.encode()) and expected is not None
        if ok:
            self.throttle.succeeded(user=user)
        else:
            self.throttle.failed(user=user, address=address)
        return ok

    def check_bearer(self, token: str, *, address: str | None) -> str | None:
        """The user whose token this is, or None (a failure, counted per address); ``SignInThrottled`` while the
        address is locked."""
        wait = self.throttle.retry_after(address=address)
        if wait is not None:
            raise SignInThrottled(wait)
        user = self.bearer_user(token) if token else None
        if user is None:
            self.throttle.failed(address=address)
        return user

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
        value = self.serializer.dumps({"u": user, "c": csrf, "k": _fingerprint(self.users[user]),
                                       "s": secrets.token_urlsafe(16), "t": time.time()})
        return value, csrf

    def revoke(self, identity: Identity) -> None:
        """Sign a cookie session out on the server: its cookie is refused from now on, wherever it was copied."""
        if self.revocations is not None and identity.session is not None:
            issued = identity.issued_at or time.time()
            self.revocations.revoke(identity.session, user=identity.user, expires_at=issued + SESSION_MAX_AGE_S)

    def read_cookie(self, value: str | None) -> Identity | None:
        if not value:
            return None
        try:
            data = self.serializer.loads(value, max_age=SESSION_MAX_AGE_S)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict):
            return None
        user, csrf, session, issued = data.get("u"), data.get("c"), data.get("s"), data.get("t")
        token = self.users.get(user) if isinstance(user, str) else None
        if token is None or not isinstance(csrf, str) or data.get("k") != _fingerprint(token):
            return None
        # A cookie without a session id could not be revoked: refuse it (it predates revocation; sign in again).
        if not isinstance(session, str) or (self.revocations is not None and self.revocations.is_revoked(session)):
            return None
        return Identity(user=user, csrf=csrf, session=session,  # type: ignore[arg-type]
                        issued_at=float(issued) if isinstance(issued, int | float) else None)

    def identify(self, request: Request) -> Identity | None:
        """The bearer token if the request has one (a wrong one is not rescued by a cookie), else the cookie."""
        header = request.headers.get("authorization", "")
        if header:
            user = self.bearer_user(bearer_token(header))
            return Identity(user=user) if user else None
        return self.read_cookie(request.cookies.get(COOKIE))

    def authenticate(self, request: Request) -> Identity | None:
        """``identify``, with a wrong bearer token counted as a failed sign-in of the client's address; raises
        ``SignInThrottled`` while that address is locked."""
        header = request.headers.get("authorization", "")
        if not header:
            return self.read_cookie(request.cookies.get(COOKIE))
        user = self.check_bearer(bearer_token(header), address=request.client.host if request.client else None)
        return Identity(user=user) if user else None

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


def bearer_token(header: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; "" for any other scheme."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".rstrip("/")
