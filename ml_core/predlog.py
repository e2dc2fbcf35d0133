"""The durable prediction log: every prediction, rejected request and delayed label, in SQLite.

Serving writes it; monitoring and the simulator read it. WAL mode lets one writer and many readers
work at once; each write commits before the HTTP answer goes out, so an answered prediction is logged.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT NOT NULL,
    record_id TEXT,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    version TEXT NOT NULL,
    role TEXT NOT NULL,           -- champion | canary | fallback
    fallback_reason TEXT,         -- why the primary version did not answer (error, timeout)
    intended_version TEXT,        -- the version the router picked, when a fallback answered
    score REAL NOT NULL,
    label INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    features TEXT NOT NULL        -- JSON object of the validated input row
);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions(ts);
CREATE INDEX IF NOT EXISTS predictions_record ON predictions(record_id);
CREATE TABLE IF NOT EXISTS rejections (
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    reason TEXT NOT NULL,         -- JSON list of validation errors
    rows INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rejections_ts ON rejections(ts);
CREATE TABLE IF NOT EXISTS labels (
    record_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    label INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class PredictionRow:
    request_id: str
    record_id: str | None
    ts: float
    model: str
    version: str
    role: str
    fallback_reason: str | None
    intended_version: str | None
    score: float
    label: int
    latency_ms: float
    features: dict


class PredictionLog:
    """Thread-safe access to one model's prediction log file."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA_SQL)

    def write_predictions(self, rows: Sequence[PredictionRow]) -> None:
        data = [(r.request_id, r.record_id, r.ts, r.model, r.version, r.role, r.fallback_reason,
                 r.intended_version, r.score, r.label, r.latency_ms, json.dumps(r.features)) for r in rows]
        with self._lock, self._conn:
            self._conn.executemany("INSERT INTO predictions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", data)

    def write_rejection(self, request_id: str, model: str, reason: list | dict, rows: int) -> None:
        with self._lock, self._conn:
            self._conn.execute("INSERT INTO rejections VALUES (?,?,?,?,?)",
                               (request_id, time.time(), model, json.dumps(reason, default=str), rows))

    def write_labels(self, labels: Iterable[tuple[str, int]], ts: float | None = None) -> int:
        now = ts or time.time()
        data = [(rid, now, int(y)) for rid, y in labels]
        with self._lock, self._conn:
            self._conn.executemany("INSERT OR REPLACE INTO labels VALUES (?,?,?)", data)
        return len(data)

    def predictions(self, since: float | None = None, until: float | None = None,
                    with_features: bool = True) -> pd.DataFrame:
        """Predictions in [since, until); features expanded into columns when asked."""
        where, args = self._window(since, until)
        df = pd.read_sql_query(f"SELECT * FROM predictions {where} ORDER BY ts", self._conn, params=args)
        if with_features and len(df):
            feats = pd.DataFrame.from_records([json.loads(f) for f in df.pop("features")], index=df.index)
            df = pd.concat([df, feats], axis=1)
        elif "features" in df:
            df = df.drop(columns=["features"])
        return df

    def rejections(self, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        where, args = self._window(since, until)
        return pd.read_sql_query(f"SELECT * FROM rejections {where} ORDER BY ts", self._conn, params=args)

    def labelled(self, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        """Predictions in the window joined with the labels that have arrived for them."""
        where, args = self._window(since, until, prefix="p.")
        q = (f"SELECT p.record_id, p.ts, p.version, p.role, p.score, p.label AS predicted, l.label AS actual "
             f"FROM predictions p JOIN labels l ON p.record_id = l.record_id {where} ORDER BY p.ts")
        return pd.read_sql_query(q, self._conn, params=args)

    def labelled_features(self, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        """Features of labelled predictions in the window plus their actual label: training data."""
        where, args = self._window(since, until, prefix="p.")
        q = (f"SELECT p.record_id, p.features, l.label AS actual FROM predictions p "
             f"JOIN labels l ON p.record_id = l.record_id {where} ORDER BY p.ts")
        df = pd.read_sql_query(q, self._conn, params=args)
        if not len(df):
            return df
        feats = pd.DataFrame.from_records([json.loads(f) for f in df.pop("features")], index=df.index)
        return pd.concat([df, feats], axis=1)

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @staticmethod
    def _window(since: float | None, until: float | None, prefix: str = "") -> tuple[str, list[float]]:
        clauses, args = [], []
        if since is not None:
            clauses.append(f"{prefix}ts >= ?")
            args.append(since)
        if until is not None:
            clauses.append(f"{prefix}ts < ?")
            args.append(until)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", args
