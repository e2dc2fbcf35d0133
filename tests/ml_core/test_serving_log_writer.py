"""The scoring service's prediction-log writer on a real SQLite file: committed before ``write`` returns, whether
the loop commits inline or the writer thread waits for a lock another connection holds."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from ml_core.predlog import PredictionLog
from ml_core.serving import log_inline
from ml_core.serving.batching import LogWriter, features_json

HOLD_S = 0.4  # how long another connection keeps the write lock: far above an inline commit (< 1 ms)


def rows(request_id: str, n: int) -> list[tuple]:
    return [(request_id, f"{request_id}-{i}", time.time(), "churn", "1", "champion", None, None, 0.25, 0, 1.0,
             features_json({"total_day_minutes": 100.0 + i, "state": "KS", "calls": i})) for i in range(n)]


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:  # another connection: sees only what was committed
        return conn.execute("SELECT count(*) FROM predictions").fetchone()[0]


@pytest.fixture
def log_path(tmp_path: Path):
    path = tmp_path / "churn.db"
    predlog = PredictionLog(path)
    yield path, predlog
    predlog.close()


def test_rows_of_requests_in_one_loop_iteration_share_one_inline_commit(log_path) -> None:
    path, predlog = log_path
    writer = LogWriter(predlog)
    inline = writer.inline
    assert inline is not None

    async def main() -> list[int]:
        await asyncio.gather(*(writer.write(rows(f"r{k}", 3)) for k in range(5)))
        return [count(path), inline.commits]

    assert asyncio.run(main()) == [15, 1]
    writer.close()
    frame = PredictionLog(path).predictions()
    assert sorted(frame.request_id.unique()) == [f"r{k}" for k in range(5)]
    assert frame[frame.record_id == "r2-1"].iloc[0].total_day_minutes == 101.0  # orjson text reads back


def test_rows_written_in_the_next_loop_iteration_join_the_commit(log_path) -> None:
    path, predlog = log_path
    writer = LogWriter(predlog)
    inline = writer.inline
    assert inline is not None

    async def late() -> None:
        await asyncio.sleep(0)  # one loop iteration on, as a request read by the next I/O poll
        await writer.write(rows("late", 2))

    async def main() -> list[int]:
        await asyncio.gather(writer.write(rows("early", 3)), late())
        return [count(path), inline.commits]

    assert asyncio.run(main()) == [5, 1]
    writer.close()


def test_a_held_write_lock_sends_the_rows_to_the_thread_which_waits_for_it(log_path) -> None:
    path, predlog = log_path
    writer = LogWriter(predlog)
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(HOLD_S, lambda: holder.execute("COMMIT"))

    async def main() -> float:
        t0 = time.perf_counter()
        release.start()
        await writer.write(rows("held", 4))
        return time.perf_counter() - t0

    waited = asyncio.run(main())
    assert waited >= HOLD_S * 0.9 and count(path) == 4  # answered only once committed
    assert writer.inline is not None and writer.inline.commits == 0  # the inline attempt gave way at once
    writer.close()
    holder.close()


def test_the_writer_thread_checkpoints_the_wal_the_inline_connection_leaves(log_path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path, predlog = log_path
    monkeypatch.setattr(log_inline, "CHECKPOINT_EVERY", 3)
    writer = LogWriter(predlog)
    before = path.stat().st_size

    async def main() -> None:
        for k in range(3):
            await writer.write(rows(f"c{k}", 200))

    asyncio.run(main())
    writer.close()  # drains the queue, the checkpoint included
    assert path.stat().st_size > before  # pages copied from the WAL into the database file
    assert count(path) == 600


def test_without_the_inline_path_the_thread_commits_before_write_returns(log_path) -> None:
    path, predlog = log_path
    writer = LogWriter(predlog, inline=False)

    async def main() -> int:
        await asyncio.gather(*(writer.write(rows(f"t{k}", 2)) for k in range(4)))
        return count(path)

    assert writer.inline is None and asyncio.run(main()) == 8
    writer.close()


@pytest.mark.parametrize("n", [1, log_inline.ROWS_PER_INSERT - 1, log_inline.ROWS_PER_INSERT,
                               log_inline.ROWS_PER_INSERT + 1, 3 * log_inline.ROWS_PER_INSERT + 5])
def test_the_inline_insert_of_many_rows_a_statement_logs_each_row_as_given_in_order(log_path, n: int) -> None:
    path, _ = log_path
    given = rows("r", n)
    appender = log_inline.InlineAppender(path)
    try:
        assert appender.try_append(given)
    finally:
        appender.close()
    with sqlite3.connect(path) as conn:
        logged = conn.execute(f"SELECT {', '.join(log_inline.LOG_COLUMNS)} FROM predictions ORDER BY rowid").fetchall()
    assert logged == given
