"""How `opsagent serve` keeps glibc's malloc from holding on to what a triage freed.

A scheduled triage allocates and frees hundreds of MiB (frames, the Evidently report, plots) on short-lived
threads. Python's own objects stay flat from tick to tick (``gc.get_objects()`` by type), but glibc keeps freed
memory inside its arenas, and on a loaded machine that kept memory grew with every tick: a probe of the soak
(``evals/bench_soak.py`` beside two busy loops on the 2-core machine) read Python's in-use memory +0.15 MiB a
tick, resident memory +0.76, and free-but-kept memory in the arenas +1.17, spread over 16 arenas (glibc gives
each new thread an arena of its own while no idle one is free, up to 8 per core). Three settings, glibc's own:

- ``limit_malloc_arenas``: fewer arenas, so one arena's free chunks serve the next tick instead of waiting in
  another arena no thread asks. Must run before the threads start: glibc fixes its cap once it holds more
  than 8 arenas.
- ``return_large_blocks``: blocks from ``mmap_threshold`` up are mmapped and go back to the OS on free. glibc
  otherwise raises that threshold to the largest block freed (up to 32 MiB), after which a triage's column
  buffers are carved from the arenas and fragment them.
- ``release_free_memory``: ``malloc_trim(0)`` after each run and each dispatcher job returns every free page
  of every arena.

Off glibc (musl, macOS) each is a no-op and says why.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

logger = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

# Two arenas: the main one and one the worker threads share. Measured with the soak under load: 16 arenas
# (the default on 2 cores) kept +1.2 MiB a tick; MALLOC_ARENA_MAX=2 alone brought RSS to +0.31 MiB a tick.
DEFAULT_ARENAS = 2
# 1 MiB: a triage window's columns (a few thousand rows) stay in the arenas, a report's or a model's buffers
# (MiB each) are mmapped and returned whole. Keeping freed top-of-heap memory up to the same size avoids an
# sbrk round trip per frame.
DEFAULT_MMAP_THRESHOLD = 1 << 20


def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
        return lib if lib is not None and hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _libc()
_OFF_GLIBC = "not glibc (no mallopt/malloc_trim in the C library): the allocator is left as it is"


def limit_malloc_arenas(n: int = DEFAULT_ARENAS) -> str | None:
    """Cap glibc's malloc arenas at ``n`` for this process; returns None, or why nothing was done.

    Call it first thing, before any thread starts (glibc fixes its cap once the process holds 8 arenas)."""
    if n < 1:
        raise ValueError(f"malloc arenas must be at least 1, not {n}")
    if _LIBC is None:
        return _OFF_GLIBC
    if _LIBC.mallopt(M_ARENA_MAX, n) != 1:
        return f"mallopt(M_ARENA_MAX, {n}) was refused by the C library"
    return None


def return_large_blocks(threshold: int = DEFAULT_MMAP_THRESHOLD) -> str | None:
    """Serve blocks of ``threshold`` bytes and more by mmap (returned to the OS on free), and keep at most that
    much free memory at the top of a heap; returns None, or why nothing was done."""
    if threshold < 4096:
        raise ValueError(f"the mmap threshold must be at least a page (4096 bytes), not {threshold}")
    if _LIBC is None:
        return _OFF_GLIBC
    for param, name in ((M_MMAP_THRESHOLD, "M_MMAP_THRESHOLD"), (M_TRIM_THRESHOLD, "M_TRIM_THRESHOLD")):
        if _LIBC.mallopt(param, threshold) != 1:
            return f"mallopt({name}, {threshold}) was refused by the C library"
    return None


def tune_for_long_running() -> list[str]:
    """What `opsagent serve` applies at start-up: the arena cap and the mmap threshold. Returns the reasons
    for whatever could not be applied (empty when all was)."""
    notes = [limit_malloc_arenas(), return_large_blocks()]
    out = [n for n in notes if n]
    for note in out:
        logger.info("allocator: %s", note)
    return out


def release_free_memory() -> None:
    """Hand the memory a finished run freed back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Without it `opsagent serve`'s resident memory climbed with every tick although Python's objects did not
    (``evals/bench_soak.py``). A few ms a run."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
