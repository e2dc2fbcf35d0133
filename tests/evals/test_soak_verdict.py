"""The soak benchmark's verdict: a leak in memory, files or threads is named; a flat run with noise passes."""

from __future__ import annotations

import numpy as np

from evals.bench_soak import MAX_IDLE_S, MAX_SLOPE_MB, Sample, SoakRun, judge
from evals.soak_world import ProcessSample


def run_of(rss: list[float], fds: list[int] | None = None, threads: list[int] | None = None,
           idle_gap_s: float = 0.5) -> SoakRun:
    n = len(rss)
    fds = fds or [50] * n
    threads = threads or [28] * n
    samples = [Sample(i, "incident", 5.0, ProcessSample(rss[i], fds[i], threads[i])) for i in range(n)]
    runs = [(i * (5.0 + idle_gap_s), i * (5.0 + idle_gap_s) + 5.0, "incident") for i in range(n)]
    return SoakRun(samples, ProcessSample(270.0, 27, 10), runs)


def noisy_flat(n: int = 100, level: float = 990.0) -> list[float]:
    warm = list(np.linspace(900.0, level, 10))
    return warm + list(level + np.random.default_rng(0).uniform(-10, 10, n - 10))


def test_a_flat_run_with_allocator_noise_passes() -> None:
    v = judge(run_of(noisy_flat()), warmup=10)
    assert abs(v.slope_mb) < MAX_SLOPE_MB and v.problems(1.0, 100, 100) == []


def test_memory_growing_a_mib_a_tick_is_named() -> None:
    rss = [900.0 + i for i in range(100)]
    [problem] = judge(run_of(rss), warmup=10).problems(1.0, 100, 100)
    assert "memory grows 1.00 MiB a tick" in problem


def test_open_files_and_threads_that_keep_growing_are_named() -> None:
    fds = [50] * 60 + [50 + i for i in range(40)]
    threads = [28] * 90 + [29] * 10
    problems = judge(run_of(noisy_flat(), fds, threads), warmup=10).problems(1.0, 100, 100)
    assert problems == ["34 more open files at the end than in the first half",
                        "1 more threads at the end than in the first half"]


def test_a_pool_that_fills_and_stops_and_a_passing_spike_pass() -> None:
    fds = [48] * 11 + [53] * 89  # five connections opened at tick 11, then no more
    threads = [28] * 11 + [31] * 89
    threads[95] = fds[95] = 60  # one sample caught a job's short-lived workers
    assert judge(run_of(noisy_flat(), fds, threads), warmup=10).problems(1.0, 100, 100) == []


def test_missing_runs_and_a_stalled_scheduler_are_named() -> None:
    v = judge(run_of(noisy_flat(), idle_gap_s=1.0 + MAX_IDLE_S + 0.5), warmup=10)
    assert v.problems(1.0, 100, 98) == ["run log: 98 runs for 100 ticks, 0 failed",
                                        "the scheduler sat idle 3.5 s between two runs"]
