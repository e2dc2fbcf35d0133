"""A small, bounded, thread-safe in-process cache for what is a pure function of a model version.

A scheduled tick re-derives the same things from the champion every few minutes: its reference rows and its
scores on them, the drift and plausibility profiles of that reference, its decisions on the held-out split.
None of them changes while the version stays champion (a version's bundle is written once), so each is
kept here under a key that names the version, and a new champion simply gets new keys.

The cache is bounded (least recently used out first), never unbounded: ``opsagent serve`` runs for weeks, and
what a tick keeps must not grow with the number of ticks. ``disabled()`` turns every cache off (the benchmark's
"today's tick" peer); ``clear_all()`` empties them.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")

_ALL: list[VersionCache] = []
_DISABLED = threading.Event()


class VersionCache(Generic[V]):
    """Up to ``size`` values by key; ``get(key, make)`` returns the cached value or makes, keeps and returns it."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        _ALL.append(self)

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        if _DISABLED.is_set():
            return make()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()  # outside the lock: two threads may both make it once; both results are equal
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def clear_all() -> None:
    """Empty every version cache of this process."""
    for cache in _ALL:
        cache.clear()


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Within the block, every cache makes its value afresh and keeps nothing (process-wide)."""
    _DISABLED.set()
    try:
        yield
    finally:
        _DISABLED.clear()
