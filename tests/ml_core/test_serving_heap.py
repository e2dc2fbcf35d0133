"""The serving process's heap settles after a load: garbage collected, the rest frozen out of the collector's passes."""

from __future__ import annotations

import gc
import weakref

from ml_core.serving.heap import settle_heap


class _Node:
    other: _Node | None = None


def test_settle_heap_collects_cycles_and_freezes_what_is_alive() -> None:
    try:
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle: only the collector frees it
        gone = weakref.ref(a)
        del a, b
        kept = _Node()
        settle_heap()
        assert gone() is None
        assert gc.get_freeze_count() > 0
        assert not any(o is kept for o in gc.get_objects())  # out of every generation the collector walks
        c, d = _Node(), _Node()
        c.other, d.other = d, c
        settle_heap()  # alive: frozen
        dropped = weakref.ref(c)
        del c, d  # a version a reload drops: a cycle among the frozen objects
        gc.collect()
        assert dropped() is not None  # the collector's passes do not see it...
        settle_heap()
        assert dropped() is None  # ...the next settle does
    finally:
        gc.unfreeze()
