"""glibc's allocator settings for `opsagent serve` (interfaces.allocator), with real ctypes calls.

Each check runs in a fresh Python process: an arena cap only holds when set before the threads start, and an RSS
reading is only clean in a process that did nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from interfaces import allocator

ROOT = Path(__file__).resolve().parents[2]
GLIBC = allocator._LIBC is not None and hasattr(allocator._LIBC, "malloc_info")
needs_glibc = pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")

# Eight threads, alive at once, each allocate 8 MB in 4 KB blocks (above pymalloc's 512 bytes: glibc serves them)
# and free all but one in 50, so no heap can shrink from its top; then the arenas are counted (malloc_info's
# <heap nr=...> lines) and RSS is read before and after release_free_memory.
PROBE = r"""
import ctypes, json, os, re, sys, tempfile, threading
from interfaces import allocator

cap = int(sys.argv[1])
notes = [allocator.limit_malloc_arenas(cap), allocator.return_large_blocks()] if cap else []
libc = allocator._LIBC
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]

def arenas():
    fd, path = tempfile.mkstemp()
    os.close(fd)
    fp = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    text = open(path).read()
    os.unlink(path)
    return len(re.findall(r"<heap nr=", text))

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

at_start = arenas()
kept, all_alive = [], threading.Barrier(8)

def work():
    blocks = [bytes(4000) for _ in range(2000)]
    all_alive.wait()
    kept.append(blocks[49::50])
    del blocks

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
before = rss_mb()
allocator.release_free_memory()
print(json.dumps({"notes": notes, "at_start": at_start, "arenas": arenas(), "before": before, "after": rss_mb()}))
"""


def _probe(cap: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MALLOC_ARENA_MAX", None)
    out = subprocess.run([sys.executable, "-c", PROBE, str(cap)], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_glibc
def test_the_cap_keeps_eight_threads_to_two_arenas() -> None:
    uncapped, capped = _probe(0), _probe(2)
    assert capped["at_start"] <= 2  # the import opened no arenas of its own (it starts no threads)
    assert uncapped["arenas"] >= uncapped["at_start"] + 4  # glibc's default: an arena per new thread, 8 a core
    assert capped["notes"] == [None, None]
    assert capped["arenas"] <= 2


@needs_glibc
def test_releasing_free_memory_returns_what_the_threads_freed() -> None:
    # 8 threads x 2,000 x 4 KB = 64 MB allocated, 98 % of it freed but kept by the arenas until the trim.
    for cap in (0, 2):
        run = _probe(cap)
        assert run["before"] - run["after"] > 30, run


def test_bad_settings_are_refused_with_a_message() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        allocator.limit_malloc_arenas(0)
    with pytest.raises(ValueError, match="at least a page"):
        allocator.return_large_blocks(100)


def test_off_glibc_each_setting_says_why_and_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_LIBC", None)
    assert "not glibc" in (allocator.limit_malloc_arenas(2) or "")
    assert "not glibc" in (allocator.return_large_blocks() or "")
    assert all("not glibc" in n for n in allocator.tune_for_long_running())
    allocator.release_free_memory()  # a no-op, not an error
