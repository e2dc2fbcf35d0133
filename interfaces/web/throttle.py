"""Failed sign-ins, throttled per user name and per client address (the web page's login form and bearer tokens,
the MCP server's bearer tokens).

A sliding window: once a key (a user name, or an address) has ``limit`` failures in the last ``window_s`` seconds,
further tries with that key are refused — even with the right token, or a guesser could simply keep going —
until the oldest failure leaves the window; ``retry_after`` says how long that is (the ``Retry-After`` header).
Refused tries are not counted, so a lock never lasts longer than the window.

The numbers (why): opsagent's tokens are long random strings (``secrets.token_urlsafe(24)``, 192 bits) that
people paste, so a person mistypes rarely; 5 failures per user in 10 minutes leaves room for a stale token or two
while a guesser gets at most 720 tries a day per name. An address may fail 20 times in the window: colleagues
behind one proxy or NAT share it, and 20 keeps one person's slip from locking out the others while still capping
a single machine at 2,880 tries a day. Against a 192-bit token either cap makes guessing hopeless; the throttle
is there for weak tokens a team may set by hand, and to stop a flood of tries. The price: someone can lock a named
user out for up to 10 minutes by failing on purpose; the address cap keeps that to one machine's worth of noise.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

FAILURES_PER_USER = 5
FAILURES_PER_ADDRESS = 20
WINDOW_S = 600.0
MAX_KEYS = 10_000  # user names are the caller's choice: keep the book bounded


class SignInThrottle:
    """Counts failed sign-ins per ``("user", name)`` and ``("address", host)``; thread-safe."""

    def __init__(self, *, per_user: int = FAILURES_PER_USER, per_address: int = FAILURES_PER_ADDRESS,
                 window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic):
        self.limits = {"user": per_user, "address": per_address}
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(user: str | None, address: str | None) -> list[tuple[str, str]]:
        return [k for k in (("user", user), ("address", address)) if k[1]]  # type: ignore[misc]

    def retry_after(self, *, user: str | None = None, address: str | None = None) -> int | None:
        """Whole seconds until a try with this user/address is allowed again; None when it is allowed now."""
        now = self.clock()
        waits = []
        with self._lock:
            for key in self._keys(user, address):
                times = self._recent(key, now)
                if times is not None and len(times) >= self.limits[key[0]]:
                    waits.append(times[0] + self.window_s - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, *, user: str | None = None, address: str | None = None) -> None:
        """Record one failed try."""
        now = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._prune(now)
            for key in self._keys(user, address):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, *, user: str) -> None:
        """A right token for ``user``: their count starts again (the address keeps its count)."""
        with self._lock:
            self._failures.pop(("user", user), None)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._failures.get(key)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if times is not None and not times:
            del self._failures[key]
            return None
        return times

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= MAX_KEYS:  # still full of live keys: forget the oldest
            del self._failures[next(iter(self._failures))]
