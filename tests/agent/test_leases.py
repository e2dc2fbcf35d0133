"""Execution leases: one live holder per proposal; a dead or silent holder is taken over, and counted."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from agent.leases import STALE_S, LeaseBook, LeaseHeld, holder_gone, metadata, this_owner
from ml_core.store import Store


@pytest.fixture
def book(db_target):
    now = [1000.0]
    b = LeaseBook(Store(db_target("approvals.db"), metadata), clock=lambda: now[0])
    b.now = now  # type: ignore[attr-defined]
    return b


def dead_owner() -> str:
    """An owner on this host whose process has exited."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return f"{socket.gethostname()}:{child.stdout.strip()}:12345"


def test_a_live_holder_keeps_the_lease_and_the_other_process_is_told_who(book):
    book.claim("prop-1", owner=this_owner())
    assert not book.is_free("prop-1")
    with pytest.raises(LeaseHeld, match=f"prop-1 is being executed by {this_owner()}"):
        book.claim("prop-1", owner="otherhost:1:1")
    assert book.claim("prop-1").claims == 1  # the holder renews without counting a take-over


def test_a_dead_holder_on_this_host_is_taken_over_at_once_and_counted(book):
    book.claim("prop-1", owner=dead_owner())
    assert book.is_free("prop-1")
    lease = book.claim("prop-1")
    assert (lease.owner, lease.claims) == (this_owner(), 2)


def test_a_holder_on_another_host_counts_as_gone_only_after_its_heartbeat_goes_stale(book):
    book.claim("prop-1", owner="otherhost:42:7")
    book.now[0] += STALE_S - 1  # type: ignore[attr-defined]
    with pytest.raises(LeaseHeld):
        book.claim("prop-1")
    book.beat("prop-1", "otherhost:42:7")  # it is alive after all
    book.now[0] += STALE_S - 1  # type: ignore[attr-defined]
    assert not book.is_free("prop-1")
    book.now[0] += 2  # type: ignore[attr-defined]
    assert book.claim("prop-1").claims == 2


def test_a_reused_pid_is_not_mistaken_for_the_holder():
    me = this_owner()
    host, pid, started = me.split(":")
    assert not holder_gone(me, 0.0, 1e12)
    assert holder_gone(f"{host}:{pid}:{int(started) + 1}", 0.0, 0.0)  # same pid, another process's start time


def test_release_frees_the_lease_but_keeps_the_count(book):
    book.claim("prop-1", owner=dead_owner())
    book.claim("prop-1")
    book.release("prop-1")
    assert book.is_free("prop-1") and book.get("prop-1").claims == 2
