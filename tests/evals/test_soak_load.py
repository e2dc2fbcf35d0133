"""The soak benchmark's ``--load``: busy loops that really take CPU while the soak runs, and are gone after."""

from __future__ import annotations

import os
import time

from evals.soak_world import BusyLoad


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_busy_loops_burn_cpu_until_stopped() -> None:
    load = BusyLoad(2).start()
    loops = list(load._loops)
    try:
        time.sleep(2.0)
        assert len(loops) == 2 and all(loop.poll() is None for loop in loops)
        assert all(_cpu_seconds(loop.pid) > 0.05 for loop in loops)  # spinning, not sleeping
    finally:
        load.stop()
    assert all(loop.returncode is not None for loop in loops)
    assert load._loops == []


def test_no_load_starts_nothing() -> None:
    load = BusyLoad(0).start()
    assert load._loops == []
    load.stop()
