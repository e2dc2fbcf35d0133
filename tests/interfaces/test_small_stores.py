"""The small interface stores on SQLite and on a real PostgreSQL: the Slack thread map, the web chat index and
the signed-out sessions (two share a table name, ``threads``: each lives in its own schema on PostgreSQL)."""

from __future__ import annotations

from interfaces.slack.threads import SlackThread, ThreadMap
from interfaces.web.sessions import SessionRevocations
from interfaces.web.threads import ThreadIndex


def test_slack_threads_and_web_threads_live_side_by_side(db_target):
    slack, web = ThreadMap(db_target("slack.db")), ThreadIndex(db_target("web_threads.db"))
    slack.remember("incident", "inc-1", "C1", "100.1")
    slack.remember("incident", "inc-1", "C1", "200.2")  # a later post replaces the earlier one
    slack.remember("proposal", "prop-1", "C1", "300.3")
    info = web.create("alice", "why did churn F1 drop?")
    assert slack.get("incident", "inc-1") == SlackThread("C1", "200.2")
    assert slack.incident_at(SlackThread("C1", "200.2")) == "inc-1"
    assert slack.find(None, "prop-1") == SlackThread("C1", "300.3")
    assert [t.id for t in web.list("alice")] == [info.id] and web.list("bob") == []


def test_a_session_signed_out_twice_is_one_row_and_stays_revoked(db_target):
    now = [1_000.0]
    first = SessionRevocations(db_target("web_sessions.db"), clock=lambda: now[0])
    second = SessionRevocations(db_target("web_sessions.db"), clock=lambda: now[0])  # another serve process
    first.revoke("sess-1", user="alice", expires_at=5_000.0)
    second.revoke("sess-1", user="alice", expires_at=5_000.0)
    assert first.is_revoked("sess-1") and second.is_revoked("sess-1") and not first.is_revoked("sess-2")
    now[0] = 6_000.0
    first.revoke("sess-2", user="bob", expires_at=9_000.0)  # drops rows whose cookies have expired anyway
    assert not second.is_revoked("sess-1") and second.is_revoked("sess-2")
