"""Group commit of the prediction log (micro-batching of the model is ``model_worker``'s).

``LogWriter``: every request waits until its rows are committed (an answered prediction is logged), but the rows of
all requests waiting at that moment go into a single transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
from typing import Any

import orjson

from ml_core.predlog import PredictionLog
from ml_core.serving.log_inline import InlineAppender
from ml_core.serving.merge_window import call_after_next_poll

log = logging.getLogger(__name__)
CHECKPOINT = ("checkpoint",)  # a queue item: run a WAL checkpoint


def features_json(record: dict[str, Any]) -> str:
    """A validated record as the log's ``features`` text: orjson, ten times faster than ``json.dumps``, and the two
    read back equal for what validation lets through (str, int, finite float, None); what orjson refuses (an
    integer past 64 bits) goes through ``json.dumps`` as before."""
    try:
        return orjson.dumps(record).decode()
    except TypeError:
        return json.dumps(record)


class LogWriter:
    """Group commit in front of the prediction log: each request waits for its rows' commit, and the rows of every
    request waiting at that moment go into one transaction. On a local SQLite log the loop commits them itself
    when the write lock is free (``log_inline``); otherwise, and whenever it is not, one writer thread does."""

    def __init__(self, predlog: PredictionLog, inline: bool = True):
        self.predlog = predlog
        self.inline = InlineAppender.for_log(predlog) if inline else None
        self._batch: list[tuple[list[tuple[Any, ...]], asyncio.Future]] = []
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="predlog-writer", daemon=True)
        self._thread.start()

    async def write(self, rows: list[tuple[Any, ...]]) -> None:
        """Returns once ``rows`` (the log's column order, features as text) are committed; raises if the commit
        failed."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if self.inline is None:
            self._queue.put((rows, loop, [fut]))
        else:
            self._batch.append((rows, fut))
            if len(self._batch) == 1:  # after the requests this loop iteration and the next score: one commit for all
                call_after_next_poll(loop, self._flush, loop)
        await fut

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.inline is not None
        batch, self._batch = self._batch, []
        rows = [r for rows, _ in batch for r in rows]
        futs = [f for _, f in batch]
        try:
            done = self.inline.try_append(rows)
        except Exception as exc:
            _settle(futs, exc)
            return
        if not done:  # another connection holds the write lock: the thread waits for it
            self._queue.put((rows, loop, futs))
            return
        _settle(futs, None)
        if self.inline.checkpoint_due():
            self._queue.put(CHECKPOINT)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            items, stop = [item], False
            while not stop:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                else:
                    items.append(nxt)
            if CHECKPOINT in items:
                self._checkpoint()
            self._commit([x for x in items if x is not CHECKPOINT])
            if stop:
                return

    def _commit(self, items: list[tuple[list[tuple[Any, ...]], asyncio.AbstractEventLoop, list[asyncio.Future]]]
                ) -> None:
        if not items:
            return
        err: BaseException | None = None
        try:
            self.predlog.append_rows([r for rows, _, _ in items for r in rows])
        except Exception as exc:  # reported to every waiting request
            err = exc
        waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
        for _, loop, futs in items:
            waiting.setdefault(loop, []).extend(futs)
        for loop, futs in waiting.items():  # one wake-up per loop and commit, not one per request
            with contextlib.suppress(RuntimeError):  # that loop closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, futs, err)

    def _checkpoint(self) -> None:
        """What the inline connection's automatic checkpoints would have done, off the loop (PASSIVE: it copies
        what no reader still needs and never waits)."""
        assert self.inline is not None
        try:
            with contextlib.closing(sqlite3.connect(self.inline.path, isolation_level=None)) as conn:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # a later one retries; the WAL only grows meanwhile
            log.warning("prediction log checkpoint failed: %s", exc)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
        if self.inline is not None:
            self.inline.close()


def _settle(futs: list[asyncio.Future], err: BaseException | None) -> None:
    for fut in futs:
        if fut.done():
            continue
        if err is None:
            fut.set_result(None)
        else:
            fut.set_exception(err)
