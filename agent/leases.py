"""Who is executing an approved proposal right now: a lease per proposal in ``approvals.db``.

An approved action must run exactly once, even when the process that runs it dies and another one (a restarted
``opsagent serve``, a second serve on the same database, ``opsagent approvals resume``) finds it ``executing``.
The runner holds the proposal's lease while it executes and renews it every ``HEARTBEAT_S``; another process may
take the lease over only when it is free, its holder's process is gone (same host: the pid is dead or reused), or
its heartbeat is older than ``STALE_S`` (another host). Claiming reads the lease row locked (``FOR UPDATE`` on
PostgreSQL; SQLite's write lock) and a missing row is inserted only if still absent, so two processes racing
for a proposal, on one host or two, cannot both win.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ml_core.store import Store, insert_if_absent

HEARTBEAT_S = 10.0
# Six missed heartbeats: a holder on another host stalled that long (a swapping 2-core box, a long GC) is
# indistinguishable from a dead one, and a minute is short next to the retrain it guards.
STALE_S = 60.0

metadata = sa.MetaData()
leases = sa.Table(
    "execution_leases", metadata,
    sa.Column("proposal_id", sa.Text, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),            # host:pid:start-time of the holder
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("claims", sa.Integer, nullable=False, server_default="0"),  # how many processes took it, in all
)
_c = leases.c


@dataclass(frozen=True)
class Lease:
    proposal_id: str
    owner: str
    heartbeat_at: float
    claims: int

    def describe(self, now: float) -> str:
        return f"{self.owner} (heartbeat {now - self.heartbeat_at:.0f} s ago)"


def this_owner() -> str:
    """host:pid:start-time of this process; the start time tells a reused pid from the holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def holder_gone(owner: str, heartbeat_at: float, now: float) -> bool:
    """Whether the lease's holder can no longer be running it."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host == socket.gethostname() and pid_text.isdigit() and started:
        return _start_time(int(pid_text)) != started  # dead ("" now) or another process under the same pid
    return now - heartbeat_at > STALE_S


class LeaseHeld(Exception):
    """Another live process is executing this proposal."""


class LeaseBook:
    """The leases on one store (the approvals database)."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def get(self, proposal_id: str) -> Lease | None:
        with self.store.read() as conn:
            row = conn.execute(sa.select(leases).where(_c.proposal_id == proposal_id)).mappings().first()
        return None if row is None else Lease(row["proposal_id"], row["owner"], row["heartbeat_at"], row["claims"])

    def claim(self, proposal_id: str, owner: str | None = None) -> Lease:
        """Take the lease (or keep it, when ``owner`` already holds it); raises ``LeaseHeld`` naming the holder."""
        with self.store.write() as conn:
            return self.claim_in(conn, proposal_id, owner or this_owner())

    def claim_in(self, conn: Connection, proposal_id: str, owner: str) -> Lease:
        """``claim`` inside the caller's write transaction (the approvals store accepts and claims in one)."""
        now = self.clock()
        if insert_if_absent(conn, leases, {"proposal_id": proposal_id, "owner": owner, "heartbeat_at": now,
                                           "claims": 1}):
            return Lease(proposal_id, owner, now, 1)
        # The row exists (maybe inserted by a racer this instant): read it locked until this transaction ends.
        row = conn.execute(sa.select(leases).where(_c.proposal_id == proposal_id).with_for_update()).mappings().one()
        if row["owner"] != owner and not holder_gone(row["owner"], row["heartbeat_at"], now):
            raise LeaseHeld(f"proposal {proposal_id} is being executed by "
                            f"{Lease(proposal_id, row['owner'], row['heartbeat_at'], 0).describe(now)}")
        claims = row["claims"] + (row["owner"] != owner)
        conn.execute(leases.update().where(_c.proposal_id == proposal_id)
                     .values(owner=owner, heartbeat_at=now, claims=claims))
        return Lease(proposal_id, owner, now, claims)

    def beat(self, proposal_id: str, owner: str) -> None:
        with self.store.write() as conn:
            conn.execute(leases.update().where(_c.proposal_id == proposal_id, _c.owner == owner)
                         .values(heartbeat_at=self.clock()))

    def release(self, proposal_id: str, owner: str | None = None) -> None:
        """Drop the lease (kept as a row with no holder's heartbeat, so the claim count survives)."""
        with self.store.write() as conn:
            conn.execute(leases.update().where(_c.proposal_id == proposal_id, _c.owner == (owner or this_owner()))
                         .values(owner="released::", heartbeat_at=0.0))

    def is_free(self, proposal_id: str) -> bool:
        lease = self.get(proposal_id)
        return lease is None or holder_gone(lease.owner, lease.heartbeat_at, self.clock())

    @contextmanager
    def held(self, proposal_id: str) -> Iterator[Lease]:
        """Claim the lease and renew it from a daemon thread while the block runs (not released at the end:
        the remediation's last node releases it, so nobody takes it over between two steps)."""
        lease = self.claim(proposal_id)
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(HEARTBEAT_S):
                try:
                    self.beat(proposal_id, lease.owner)
                except Exception:  # a locked database for a moment: the next beat retries
                    continue

        beater = threading.Thread(target=renew, name=f"lease-{proposal_id}", daemon=True)
        beater.start()
        try:
            yield lease
        finally:
            stop.set()
            beater.join(timeout=5)


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); "" when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]
