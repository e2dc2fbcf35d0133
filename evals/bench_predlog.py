"""The prediction log's write path: SQLAlchemy Core (the store module) vs a raw sqlite3 writer, same run.

    python -m evals.bench_predlog [--writes 2000] [--rows 10] [--rounds 3]

The scoring service writes every request's rows in one transaction before it answers, so a slower write
is added to every request's latency. The peer is the raw-sqlite3 write path the prediction log had before
the store module (``RawSqliteLog`` below: the same table, WAL, ``synchronous=NORMAL``, one locked
``executemany`` per request); both write ``--writes`` requests of ``--rows`` rows to fresh files in the same
temporary folder, alternating, ``--rounds`` times; the best round of each is compared.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml_core.predlog import PredictionLog, PredictionRow

_PREDICTIONS = """CREATE TABLE IF NOT EXISTS predictions (request_id TEXT NOT NULL, record_id TEXT, ts REAL NOT NULL,
    model TEXT NOT NULL, version TEXT NOT NULL, role TEXT NOT NULL, fallback_reason TEXT, intended_version TEXT,
    score REAL NOT NULL, label INTEGER NOT NULL, latency_ms REAL NOT NULL, features TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions(ts);"""  # the log's indexes (no record_id one since Step 9)


class RawSqliteLog:
    """The peer: the prediction log's write path as it was, on one locked sqlite3 connection."""

    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_PREDICTIONS)

    def write_predictions(self, rows: Sequence[PredictionRow]) -> None:
        data = [(r.request_id, r.record_id, r.ts, r.model, r.version, r.role, r.fallback_reason,
                 r.intended_version, r.score, r.label, r.latency_ms, json.dumps(r.features)) for r in rows]
        with self._lock, self._conn:
            self._conn.executemany("INSERT INTO predictions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", data)

    def close(self) -> None:
        self._conn.close()


def requests(row_type: Any, writes: int, rows: int) -> list[list[Any]]:
    """``writes`` requests of ``rows`` predictions each, shaped like the service's rows."""
    features = {"state": "CA", "account_length": 120, "total_day_minutes": 180.5, "voice_mail_plan": "no"}
    return [[row_type(f"req-{w}", f"rec-{w}-{i}", 1_700_000_000.0 + w, "churn", "3", "champion", None, None,
                      0.42, 0, 3.1, features) for i in range(rows)] for w in range(writes)]


def seconds_per_write(log: Any, batch: list[list[Any]]) -> float:
    start = time.perf_counter()
    for rows in batch:
        log.write_predictions(rows)
    elapsed = (time.perf_counter() - start) / len(batch)
    log.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    batch = requests(PredictionRow, args.writes, args.rows)
    best = {"old": float("inf"), "new": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            best["old"] = min(best["old"], seconds_per_write(RawSqliteLog(Path(tmp) / f"old{r}.db"), batch))
            best["new"] = min(best["new"], seconds_per_write(PredictionLog(Path(tmp) / f"new{r}.db"), batch))
    print(f"{args.writes} writes of {args.rows} rows, best of {args.rounds}: "
          f"raw sqlite3 {best['old'] * 1e6:.0f} µs/write, SQLAlchemy Core {best['new'] * 1e6:.0f} µs/write, "
          f"new/old {best['new'] / best['old']:.2f}x")


if __name__ == "__main__":
    main()
