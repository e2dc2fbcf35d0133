"""Opportunistic micro-batching of one model version: on the event loop itself when the model is cheap and idle,
else on a thread of its own.

- The thread: while it scores a batch, requests that arrive queue up and are scored together in the next call, so
  under load many small requests share one forward pass, and at low load a request waits for nobody. Its answer
  comes back through ``call_soon_threadsafe``; a request can time out on it (the latency budget) and fall back.
- Inline, on the loop: a request costs two thread hand-offs on the thread path (to the model, back to the loop),
  and on a machine whose cores are shared each waits for the kernel to schedule the other thread (in process, with
  16 callers, half of a request's wall time was that wait). For a model whose scoring is computation of bounded
  cost (``TabularModel`` without an injected fault: ~0.2 ms for 16 rows, ~1.3 ms for 256), the rows of every
  request submitted in one loop iteration (and the next: ``merge_window``) are scored by one call on the loop, the
  same merging without the hand-offs. A call on the loop cannot time out, so inline scoring is bounded twice: at
  most ``INLINE_MAX_ROWS`` rows a call (more go to the thread), and ``INLINE_SLOW_STREAK`` calls in a row slower
  than ``INLINE_SLOW_S`` (a slower model than it claimed, one that waits on something) send the next
  ``INLINE_PAUSE_S`` of traffic to the thread.
  Slower means the loop's thread spent that long on the call, computing or waiting (a sleep, a lock, I/O), not
  counting the time it was ready to run while the kernel ran another thread (``run_queue_wait``): on a machine
  whose cores are shared the kernel may run another process for a few ms in the middle of any call, which stalls
  the loop as much whichever thread scores. Timed by the clock alone, such a preemption (8-12 % of the 256-row calls
  at load average 6 on two cores, none of them over 1.6 ms of CPU) sent batch-16 traffic to the thread for 10 s at
  a time, at twice the cost a request. Even so, a lone call can be slow for no fault of the model's: the virtual
  machine's own CPU taken by its host counts as the thread's CPU time (once 9.4 ms "of CPU" for 16 rows that take
  0.2 ms), and a GIL hand-off to the log's checkpoint thread counts as a wait (5.4 ms, 0.6 ms of CPU, for 8 rows).
  Each sent traffic to the thread for 10 s, ~20 % of a benchmark run. A model slower than it claimed is slow on
  every call, a stall is not: in the benchmark runs that logged one, slow calls came seconds apart, never two in a
  row, so three in a row are the model's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ml_core.serving.merge_window import call_after_next_poll

log = logging.getLogger(__name__)
# 256 rows (16 requests of 16) score in ~1.3 ms on the loop; the loop stalls that long for every other request.
INLINE_MAX_ROWS = 256
# One fiftieth of the default latency budget (250 ms): a stall this long cannot make another request miss it.
INLINE_SLOW_S = 0.005
INLINE_SLOW_STREAK = 3  # slow calls in a row that are the model's, not a stall's (module docstring)
INLINE_PAUSE_S = 10.0
_SCHEDSTAT = threading.local()  # .fd: this thread's /proc/thread-self/schedstat, open; None where there is none


def run_queue_wait() -> float:
    """Seconds this thread has been ready to run but waiting for a CPU (Linux's schedstat, by the ns; 0.4 µs a read
    from a file kept open); 0.0 where the OS does not say, so that all of the clock's time counts."""
    fd = getattr(_SCHEDSTAT, "fd", -1)
    if fd == -1:
        try:
            fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            fd = None
        _SCHEDSTAT.fd = fd
    if fd is None:
        return 0.0
    try:
        return int(os.pread(fd, 64, 0).split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


Batch = list[tuple[list[dict[str, Any]], asyncio.Future]]


class ModelWorker:
    """Scores record batches for one model, merging requests that arrive together.

    The thread is fed by a queue, rather than a ThreadPoolExecutor: a pool's ``submit`` builds a concurrent Future
    with its own Condition per call and ``run_in_executor`` chains a second future onto it, a cost paid per batch on
    the event loop's core. Here a batch is one queue put, and its answer one ``call_soon_threadsafe`` back."""

    def __init__(self, name: str, predict: Callable[[pd.DataFrame], np.ndarray], columns: Sequence[str],
                 max_rows: int = 4096, predict_records: Callable[[list[dict[str, Any]]], np.ndarray] | None = None,
                 inline: bool = False):
        self.name = name
        self._predict = predict
        self._predict_records = predict_records  # the model's DataFrame-free path, when it has one
        self._columns = list(columns)
        self._max_rows = max_rows
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=f"model-{name}", daemon=True)
        self._thread.start()
        self._pending: Batch = []
        self._busy = False
        self.inline = inline  # the model scores in bounded time: it may be scored on the loop
        self._inline: Batch = []
        self._inline_rows = 0
        self._inline_paused_until = 0.0
        self._inline_slow_calls = 0  # slow inline calls in a row
        self.calls = {"inline": 0, "thread": 0}  # scoring calls by path (tests and benchmarks read them)

    def submit(self, records: list[dict[str, Any]]) -> tuple[asyncio.Future, bool]:
        """A future of the scores for ``records`` (or what the model raised), and whether it is scored on the loop
        (then it is settled two loop iterations on, ``merge_window``, and waiting on it with a timeout is moot).
        Cancelling the future only drops this caller."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if (self.inline and not self._busy and not self._pending
                and self._inline_rows + len(records) <= INLINE_MAX_ROWS
                and (not self._inline_paused_until or time.monotonic() >= self._inline_paused_until)):
            self._inline.append((records, fut))
            self._inline_rows += len(records)
            if len(self._inline) == 1:  # after the other requests of this iteration and the next: one call for all
                call_after_next_poll(loop, self._score_inline)
            return fut, True
        self._pending.append((records, fut))
        if not self._busy and not self._inline:  # an inline call due kicks the thread after it (one model user)
            self._kick()
        return fut, False

    async def score(self, records: list[dict[str, Any]], budget_s: float | None = None) -> np.ndarray:
        """Scores for ``records``; raises what the model raised, or ``TimeoutError`` past ``budget_s`` on the thread
        (a call on the loop is settled before any timer could fire, so it is awaited without one: ``wait_for`` costs
        a timer and a waiter per request)."""
        fut, inline = self.submit(records)
        return await fut if inline or budget_s is None else await asyncio.wait_for(fut, budget_s)

    def _score_inline(self) -> None:
        batch = [(recs, fut) for recs, fut in self._inline if not fut.done()]
        self._inline, self._inline_rows = [], 0
        if batch:
            records = batch[0][0] if len(batch) == 1 else [r for recs, _ in batch for r in recs]
            scores: np.ndarray | None = None
            error: BaseException | None = None
            t0, held0 = time.perf_counter(), run_queue_wait()
            try:
                scores = self._run(records)
            except Exception as exc:  # given to every caller of the batch
                error = exc
            self.calls["inline"] += 1
            took = time.perf_counter() - t0
            spent = took - (run_queue_wait() - held0) if took > INLINE_SLOW_S else took  # less any preemption
            self._inline_slow_calls = self._inline_slow_calls + 1 if spent > INLINE_SLOW_S else 0
            if self._inline_slow_calls >= INLINE_SLOW_STREAK:
                self._inline_slow_calls = 0
                self._inline_paused_until = time.monotonic() + INLINE_PAUSE_S
                log.warning("model %s took over %g ms on the event loop %d calls in a row (the last: %.1f ms for %d "
                            "rows); scoring on its thread for %g s", self.name, INLINE_SLOW_S * 1000,
                            INLINE_SLOW_STREAK, spent * 1000, len(records), INLINE_PAUSE_S)
            _settle(batch, scores, error)
        if self._pending and not self._busy:
            self._kick()

    def _kick(self) -> None:
        batch: Batch = []
        rows = 0
        while self._pending and (not batch or rows + len(self._pending[0][0]) <= self._max_rows):
            recs, fut = self._pending.pop(0)
            if fut.done():  # caller timed out or went away while queued
                continue
            batch.append((recs, fut))
            rows += len(recs)
        if not batch:
            return
        self._busy = True
        self.calls["thread"] += 1
        records = batch[0][0] if len(batch) == 1 else [r for recs, _ in batch for r in recs]
        self._work.put((records, batch, asyncio.get_running_loop()))

    def _serve(self) -> None:
        while (item := self._work.get()) is not None:
            records, batch, loop = item
            scores: np.ndarray | None = None
            error: BaseException | None = None
            try:
                scores = self._run(records)
            except Exception as exc:  # given to every caller of the batch
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                loop.call_soon_threadsafe(self._finish, batch, scores, error)

    def _run(self, records: list[dict[str, Any]]) -> np.ndarray:
        if self._predict_records is not None:
            scores = np.asarray(self._predict_records(records), dtype=np.float64)
        else:
            scores = np.asarray(self._predict(pd.DataFrame.from_records(records, columns=self._columns)),
                                dtype=np.float64)
        if scores.shape != (len(records),) or not np.isfinite(scores).all():
            raise ValueError(f"model returned {scores.shape} scores for {len(records)} rows or non-finite values")
        return scores

    def _finish(self, batch: Batch, scores: np.ndarray | None, error: BaseException | None) -> None:
        self._busy = False
        _settle(batch, scores, error)
        if self._pending:
            self._kick()

    def close(self) -> None:
        """Stop after the batch in progress (a slow model is not waited for: the thread is a daemon)."""
        self._work.put(None)


def _settle(batch: Batch, scores: np.ndarray | None, error: BaseException | None) -> None:
    start = 0
    for recs, fut in batch:
        if not fut.done():
            if error is not None or scores is None:
                fut.set_exception(error or RuntimeError("the model returned nothing"))
            else:
                fut.set_result(scores[start:start + len(recs)])
        start += len(recs)
