"""Opportunistic micro-batching and group commit, the two things that make one process fast.

- ``ModelWorker``: each model version has one inference thread. While it scores a batch, requests
  that arrive queue up and are scored together in the next call, so under load many small requests
  share one forward pass, and at low load a request waits for nobody.
- ``LogWriter``: one thread writes the prediction log; every request waits until its rows are
  committed, but the rows of all requests waiting at that moment go into a single transaction.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from ml_core.predlog import PredictionLog, PredictionRow


class ModelWorker:
    """Scores record batches for one model, merging requests that arrive while it is busy."""

    def __init__(self, name: str, predict: Callable[[pd.DataFrame], np.ndarray], columns: Sequence[str],
                 max_rows: int = 4096, predict_records: Callable[[list[dict[str, Any]]], np.ndarray] | None = None):
        self.name = name
        self._predict = predict
        self._predict_records = predict_records  # the model's DataFrame-free path, when it has one
        self._columns = list(columns)
        self._max_rows = max_rows
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"model-{name}")
        self._pending: list[tuple[list[dict[str, Any]], asyncio.Future]] = []
        self._busy = False

    async def score(self, records: list[dict[str, Any]]) -> np.ndarray:
        """Scores for ``records``; raises what the model raised. Cancelling only drops this caller."""
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((records, fut))
        if not self._busy:
            self._kick()
        return await fut

    def _kick(self) -> None:
        batch, rows = [], 0
        while self._pending and (not batch or rows + len(self._pending[0][0]) <= self._max_rows):
            recs, fut = self._pending.pop(0)
            if fut.done():  # caller timed out or went away while queued
                continue
            batch.append((recs, fut))
            rows += len(recs)
        if not batch:
            return
        self._busy = True
        records = [r for recs, _ in batch for r in recs]
        done = asyncio.get_running_loop().run_in_executor(self._executor, self._run, records)
        done.add_done_callback(lambda f: self._finish(batch, f))

    def _run(self, records: list[dict[str, Any]]) -> np.ndarray:
        if self._predict_records is not None:
            scores = np.asarray(self._predict_records(records), dtype=np.float64)
        else:
            scores = np.asarray(self._predict(pd.DataFrame.from_records(records, columns=self._columns)),
                                dtype=np.float64)
        if scores.shape != (len(records),) or not np.isfinite(scores).all():
            raise ValueError(f"model returned {scores.shape} scores for {len(records)} rows or non-finite values")
        return scores

    def _finish(self, batch: list[tuple[list[dict[str, Any]], asyncio.Future]], f: asyncio.Future) -> None:
        self._busy = False
        exc = f.exception() if not f.cancelled() else asyncio.CancelledError()
        start = 0
        for recs, fut in batch:
            if not fut.done():
                if exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(f.result()[start:start + len(recs)])
            start += len(recs)
        if self._pending:
            self._kick()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class LogWriter:
    """Group commit in front of PredictionLog.write_predictions."""

    def __init__(self, predlog: PredictionLog):
        self.predlog = predlog
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="predlog-writer", daemon=True)
        self._thread.start()

    async def write(self, rows: list[PredictionRow]) -> None:
        """Returns once ``rows`` are committed; raises if the commit failed."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put((rows, loop, fut))
        await fut

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            items = [item]
            while True:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                items.append(nxt)
            err: BaseException | None = None
            try:
                self.predlog.write_predictions([r for rows, _, _ in items for r in rows])
            except Exception as exc:  # reported to every waiting request, which answers 503
                err = exc
            for _, loop, fut in items:
                loop.call_soon_threadsafe(_settle, fut, err)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


def _settle(fut: asyncio.Future, err: BaseException | None) -> None:
    if fut.done():
        return
    if err is None:
        fut.set_result(None)
    else:
        fut.set_exception(err)
