"""Where ``ModelWorker`` scores: on the event loop for a model that scores in bounded time, else on its thread."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
import time

import numpy as np
import pytest

from ml_core.serving import model_worker
from ml_core.serving.model_worker import ModelWorker


def worker(inline: bool, delay_s: float = 0.0) -> tuple[ModelWorker, list[tuple[str, int]]]:
    """A worker whose model records which thread scored how many rows (score = the row's ``x``)."""
    seen: list[tuple[str, int]] = []

    def predict(records: list[dict]) -> np.ndarray:
        seen.append((threading.current_thread().name, len(records)))
        time.sleep(delay_s)
        return np.array([r["x"] for r in records], dtype=np.float64)

    return ModelWorker("m", lambda df: np.zeros(len(df)), ["x"], predict_records=predict, inline=inline), seen


async def gather(w: ModelWorker, sizes: list[int]) -> list[list[float]]:
    calls = [w.score([{"x": float(10 * i + j)} for j in range(n)]) for i, n in enumerate(sizes)]
    return [s.tolist() for s in await asyncio.gather(*calls)]


def expected(sizes: list[int]) -> list[list[float]]:
    return [[float(10 * i + j) for j in range(n)] for i, n in enumerate(sizes)]


def test_requests_of_one_loop_iteration_are_scored_together_on_the_loop() -> None:
    w, seen = worker(inline=True)
    sizes = [1, 3, 2]
    assert asyncio.run(gather(w, sizes)) == expected(sizes)
    assert seen == [(threading.current_thread().name, 6)] and w.calls == {"inline": 1, "thread": 0}
    w.close()


def test_a_request_submitted_in_the_next_loop_iteration_joins_the_call() -> None:
    """As a request read by the next I/O poll would (``merge_window``): one call for both, not a call each."""
    w, seen = worker(inline=True)

    async def main() -> list[list[float]]:
        first, _ = w.submit([{"x": 0.0}])
        await asyncio.sleep(0)  # one loop iteration on
        second, _ = w.submit([{"x": 1.0}, {"x": 2.0}])
        return [(await f).tolist() for f in (first, second)]

    assert asyncio.run(main()) == [[0.0], [1.0, 2.0]]
    assert seen == [(threading.current_thread().name, 3)] and w.calls == {"inline": 1, "thread": 0}
    w.close()


def test_a_model_without_the_claim_is_scored_on_its_thread() -> None:
    w, seen = worker(inline=False)
    sizes = [2, 2]
    assert asyncio.run(gather(w, sizes)) == expected(sizes)
    assert {name for name, _ in seen} == {"model-m"} and w.calls["inline"] == 0
    w.close()


def test_rows_past_the_inline_bound_go_to_the_thread_after_the_inline_call() -> None:
    w, seen = worker(inline=True)
    sizes = [model_worker.INLINE_MAX_ROWS, 1]
    assert asyncio.run(gather(w, sizes)) == expected(sizes)
    assert seen == [(threading.current_thread().name, model_worker.INLINE_MAX_ROWS), ("model-m", 1)]
    w.close()


async def score_n(w: ModelWorker, n: int) -> None:
    for i in range(n):
        assert (await w.score([{"x": float(i)}])).tolist() == [float(i)]


def test_slow_inline_calls_in_a_row_send_the_next_requests_to_the_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_worker, "INLINE_SLOW_S", 0.001)
    w, seen = worker(inline=True, delay_s=0.01)
    asyncio.run(score_n(w, model_worker.INLINE_SLOW_STREAK + 1))
    loop_thread = threading.current_thread().name
    assert [name for name, _ in seen] == [loop_thread] * model_worker.INLINE_SLOW_STREAK + ["model-m"]
    w.close()


def test_lone_slow_inline_calls_keep_the_loop_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stall of one call now and then (the host took the CPU, a GIL hand-off) is not a slow model."""
    monkeypatch.setattr(model_worker, "INLINE_SLOW_S", 0.001)
    delays = iter([0.01, 0.0] * model_worker.INLINE_SLOW_STREAK * 2)
    seen: list[str] = []

    def predict(records: list[dict]) -> np.ndarray:
        seen.append(threading.current_thread().name)
        time.sleep(next(delays))
        return np.array([r["x"] for r in records], dtype=np.float64)

    w = ModelWorker("m", lambda df: np.zeros(len(df)), ["x"], predict_records=predict, inline=True)
    asyncio.run(score_n(w, model_worker.INLINE_SLOW_STREAK * 4))
    assert seen == [threading.current_thread().name] * model_worker.INLINE_SLOW_STREAK * 4
    assert w.calls == {"inline": model_worker.INLINE_SLOW_STREAK * 4, "thread": 0}
    w.close()


def busy_worker(busy_s: float) -> tuple[ModelWorker, list[str]]:
    """A worker whose model computes for ``busy_s`` of the clock each call (a spin, never giving up the CPU)."""
    seen: list[str] = []

    def predict(records: list[dict]) -> np.ndarray:
        seen.append(threading.current_thread().name)
        end = time.perf_counter() + busy_s
        while time.perf_counter() < end:
            pass
        return np.array([r["x"] for r in records], dtype=np.float64)

    return ModelWorker("m", lambda df: np.zeros(len(df)), ["x"], predict_records=predict, inline=True), seen


def test_inline_calls_that_compute_too_long_send_the_next_requests_to_the_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_worker, "INLINE_SLOW_S", 0.002)
    w, seen = busy_worker(0.02)
    asyncio.run(score_n(w, model_worker.INLINE_SLOW_STREAK + 1))
    assert seen == [threading.current_thread().name] * model_worker.INLINE_SLOW_STREAK + ["model-m"]
    w.close()


def test_preempted_inline_calls_keep_the_loop_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls the clock says were slow, while the loop's thread waited that long for a CPU (the kernel ran another
    thread meanwhile: here each call's run-queue wait is a whole second), are not the model's fault."""
    monkeypatch.setattr(model_worker, "INLINE_SLOW_S", 0.001)
    waited = itertools.count()
    monkeypatch.setattr(model_worker, "run_queue_wait", lambda: float(next(waited)))
    w, seen = worker(inline=True, delay_s=0.01)
    calls = model_worker.INLINE_SLOW_STREAK + 1
    asyncio.run(score_n(w, calls))
    assert seen == [(threading.current_thread().name, 1)] * calls and w.calls == {"inline": calls, "thread": 0}
    w.close()


@pytest.mark.skipif(not os.path.exists("/proc/thread-self/schedstat"), reason="Linux's schedstat only")
def test_run_queue_wait_counts_the_time_another_thread_held_the_cpu() -> None:
    """This thread and a spinning one pinned to one CPU for 0.2 s: this one waited for it a good part of that."""
    cpu = min(os.sched_getaffinity(0))
    mine = os.sched_getaffinity(0)
    stop = threading.Event()

    def spin() -> None:
        os.sched_setaffinity(0, {cpu})  # 0: the calling thread
        while not stop.is_set():
            pass

    os.sched_setaffinity(0, {cpu})
    try:
        spinner = threading.Thread(target=spin)
        spinner.start()
        before, t0 = model_worker.run_queue_wait(), time.perf_counter()
        while time.perf_counter() < t0 + 0.2:
            pass
        waited, elapsed = model_worker.run_queue_wait() - before, time.perf_counter() - t0
        stop.set()
        spinner.join()
    finally:
        os.sched_setaffinity(0, mine)
    assert 0.02 < waited < elapsed  # here ~0.04: most of the rest, it slept on the GIL


def test_an_inline_error_reaches_every_caller_of_the_call() -> None:
    def broken(records: list[dict]) -> np.ndarray:
        raise RuntimeError("injected")

    w = ModelWorker("m", lambda df: np.zeros(len(df)), ["x"], predict_records=broken, inline=True)

    async def both() -> list[BaseException | np.ndarray]:
        return await asyncio.gather(w.score([{"x": 1.0}]), w.score([{"x": 2.0}]), return_exceptions=True)

    assert [str(e) for e in asyncio.run(both())] == ["injected", "injected"]
    w.close()
