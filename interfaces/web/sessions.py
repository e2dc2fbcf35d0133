"""Signed-out web sessions, kept on the server so a copied cookie stops working when its owner signs out.

Session cookies are signed and carry a random session id; signing out puts that id here until the cookie would
have expired anyway (``SESSION_MAX_AGE_S`` after it was issued), and every request with a cookie looks it up. The
table lives in ``OPSAGENT_HOME/web_sessions.db`` beside the chat thread index, so a restart or a second
`opsagent serve` on the same home refuses the same cookies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from ml_core.paths import HomeLayout
from ml_core.store import Handle, Store, insert_if_absent

SESSIONS_FILE = "web_sessions.db"
metadata = sa.MetaData()
revoked = sa.Table(
    "revoked_sessions", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("user", sa.Text, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),  # after this the cookie's signature has expired too
    sa.Index("revoked_sessions_expiry", "expires_at"),
)
_c = revoked.c


class SessionRevocations(Handle):
    """Which session ids were signed out; thread-safe (each call is one short transaction)."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time):
        self.store = Store(path, metadata)
        self.clock = clock

    @classmethod
    def for_home(cls, layout: HomeLayout) -> SessionRevocations:
        return cls(layout.store(layout.home / SESSIONS_FILE))

    def revoke(self, session_id: str, *, user: str, expires_at: float) -> None:
        """Refuse ``session_id`` from now on; rows whose cookies have expired anyway are dropped."""
        now = self.clock()
        with self.store.write() as conn:
            conn.execute(revoked.delete().where(_c.expires_at < now))
            # two sign-outs of one session at once (two tabs, two serve processes) both land as one row
            insert_if_absent(conn, revoked, {"id": session_id, "user": user, "revoked_at": now,
                                             "expires_at": expires_at})

    def is_revoked(self, session_id: str) -> bool:
        with self.store.read() as conn:
            return conn.execute(sa.select(_c.id).where(_c.id == session_id)).first() is not None
