"""The prediction log's sealed Parquet segments: what is read back equals what was written, before and after a seal;
a log in the old row-only format keeps reading and migrates; a writer and a sealing reader at once lose nothing."""

from __future__ import annotations

import json
import sqlite3
import threading

import numpy as np
import pandas as pd

from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.predlog_segments import segment_dir


def rows(n: int, start: int = 0, t0: float = 1000.0, mixed: bool = False) -> list[PredictionRow]:
    """``n`` predictions with a float (sometimes null), an int, a text and a negative int."""
    out = []
    for i in range(start, start + n):
        feats = {"minutes": None if i % 7 == 0 else i * 0.5, "calls": i % 9, "plan": "yes" if i % 3 else "no",
                 "tenure": -i}
        if mixed and i % 2:
            feats["calls"] = "many"  # a column Arrow cannot type as one kind
        out.append(PredictionRow(f"q{i}", f"r{i}", t0 + i, "m", "1" if i % 4 else "2", "champion", None, None,
                                 (i % 10) / 10, int(i % 10 >= 5), 3.0 + i % 5, feats))
    return out


def frames(log: PredictionLog, since=None, until=None) -> tuple[pd.DataFrame, ...]:
    return (log.predictions(since, until), log.predictions(since, until, with_features=False),
            log.labelled(since, until), log.labelled_features(since, until),
            log.labelled(since, until, with_ids=False))


def assert_same(before: tuple[pd.DataFrame, ...], after: tuple[pd.DataFrame, ...]) -> None:
    for a, b in zip(before, after, strict=True):
        assert sorted(a.columns) == sorted(b.columns)
        pd.testing.assert_frame_equal(a.reset_index(drop=True), b[list(a.columns)].reset_index(drop=True),
                                      check_dtype=False)


def test_sealed_log_reads_back_what_was_written(tmp_path):
    with PredictionLog(tmp_path / "m.db") as log:
        log.write_predictions(rows(300))
        log.write_labels([(f"r{i}", i % 2) for i in range(0, 300, 3)])
        before = frames(log), frames(log, 1100.0, 1250.0)
        assert log.seal(min_rows=1) == 299  # the newest row stays in SQLite
        assert len(list(segment_dir(tmp_path / "m.db").glob("*.parquet"))) == 1
        log.write_predictions(rows(10, start=300))  # a tail after the segment
        after = frames(log, None, 1300.0), frames(log, 1100.0, 1250.0)
        assert log.count() == 310
    assert_same(before[0], after[0])
    assert_same(before[1], after[1])
    assert len(after[0][0]) == 300 and after[0][0]["ts"].is_monotonic_increasing
    assert after[0][0]["minutes"].isna().sum() == before[0][0]["minutes"].isna().sum() > 0
    assert "tenure" in after[0][3].columns and "actual" in after[0][3].columns


def test_old_row_only_log_keeps_reading_and_migrates(tmp_path):
    """A log file written before segments existed (no manifest table): read as it is, then sealed, same rows."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""CREATE TABLE predictions (request_id TEXT NOT NULL, record_id TEXT, ts REAL NOT NULL,
        model TEXT NOT NULL, version TEXT NOT NULL, role TEXT NOT NULL, fallback_reason TEXT, intended_version TEXT,
        score REAL NOT NULL, label INTEGER NOT NULL, latency_ms REAL NOT NULL, features TEXT NOT NULL);
        CREATE TABLE labels (record_id TEXT PRIMARY KEY, ts REAL NOT NULL, label INTEGER NOT NULL);""")
    conn.executemany("INSERT INTO predictions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                     [(r.request_id, r.record_id, r.ts, r.model, r.version, r.role, None, None, r.score, r.label,
                       r.latency_ms, json.dumps(r.features)) for r in rows(120)])
    conn.executemany("INSERT INTO labels VALUES (?,?,?)", [(f"r{i}", 5000.0, 1) for i in range(60)])
    conn.commit()
    conn.close()
    with PredictionLog(path) as log:
        before = frames(log)
        assert len(before[0]) == 120 and len(before[2]) == 60
        assert log.seal(min_rows=1) == 119
        assert_same(before, frames(log))
        assert log.count() == 120


def test_untyped_features_are_kept_as_text_and_read_back(tmp_path):
    with PredictionLog(tmp_path / "m.db") as log:
        log.write_predictions(rows(50, mixed=True))
        before = frames(log)
        log.seal(min_rows=1)
        after = frames(log)
    assert_same(before, after)
    assert set(after[0]["calls"].dropna()) >= {"many", 0}


def test_writer_and_sealing_reader_lose_and_duplicate_nothing(tmp_path):
    """One thread writes requests while another seals and reads: every read holds each written row at most once
    and never fewer rows than a read before it; at the end every row is there, once."""
    path = tmp_path / "m.db"
    PredictionLog(path).close()
    done, seen, errors = threading.Event(), [], []
    seals, sealed = [0], threading.Condition()  # how many seals the reader finished

    def write() -> None:
        with PredictionLog(path) as log:
            for k in range(40):
                log.write_predictions(rows(25, start=k * 25))
                if k in (10, 25):  # a whole seal between writes, for certain: on a slow machine the writer could
                    with sealed:  # finish before the reader sealed twice, and nothing tested the interleaving
                        n = seals[0]
                        sealed.wait_for(lambda n=n: seals[0] > n + 1, timeout=30)  # one may have begun before
        done.set()

    def read() -> None:
        with PredictionLog(path) as log:
            while not done.is_set() or not seen or seen[-1] < 1000:
                log.seal(min_rows=1)
                with sealed:
                    seals[0] += 1
                    sealed.notify_all()
                df = log.predictions(with_features=False)
                if df["request_id"].duplicated().any():
                    errors.append("duplicate rows")
                seen.append(len(df))
                if done.is_set() and len(seen) > 500:
                    break

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert np.all(np.diff(seen) >= 0), seen
    with PredictionLog(path) as log:
        final = log.predictions()
        assert log.count() == 1000
    assert sorted(final["request_id"]) == sorted(f"q{i}" for i in range(1000))
    assert len(list(segment_dir(path).glob("*.parquet"))) >= 2
