"""The store module on real SQLite files: connection setup, transactions, concurrency, migration, old files."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.store import Store, append_only, sqlite_connect, upsert


def notes_tables(*extra: sa.Column) -> sa.MetaData:
    metadata = sa.MetaData()
    sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("who", sa.Text, nullable=False), sa.Column("n", sa.Integer, nullable=False), *extra)
    return metadata


def notes(store: Store) -> list[tuple[str, int]]:
    with store.read() as conn:
        return [(who, n) for who, n in conn.exec_driver_sql("SELECT who, n FROM notes ORDER BY id")]


def test_every_connection_gets_wal_and_the_busy_timeout(tmp_path):
    path = tmp_path / "sub" / "a.db"  # the folder is created too
    with Store(path, notes_tables()) as store, store.read() as conn:
        pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar() for p in
                   ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")}
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30_000, "synchronous": 1, "foreign_keys": 1}

    raw = sqlite_connect(tmp_path / "checkpoints.db")  # the checkpointer's raw connection: the same setup
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    finally:
        raw.close()


def test_a_write_that_raises_rolls_back_completely(tmp_path):
    store = Store(tmp_path / "a.db", notes_tables())
    with pytest.raises(RuntimeError, match="half-way"), store.write() as conn:
        conn.exec_driver_sql("INSERT INTO notes (who, n) VALUES ('a', 1)")
        conn.exec_driver_sql("INSERT INTO notes (who, n) VALUES ('a', 2)")
        raise RuntimeError("failed half-way")
    assert notes(store) == []
    with store.write() as conn:  # the lock was released: the next write goes through
        conn.exec_driver_sql("INSERT INTO notes (who, n) VALUES ('b', 3)")
    assert notes(store) == [("b", 3)]


def test_writes_take_the_lock_up_front_and_reads_take_none(tmp_path):
    path = tmp_path / "a.db"
    store = Store(path, notes_tables())
    other = sqlite3.connect(path, timeout=0, isolation_level=None)  # gives up at once instead of waiting
    try:
        # Nothing written yet: BEGIN IMMEDIATE alone holds the write lock.
        with store.write(), pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        with store.read() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM notes").scalar()
            other.execute("BEGIN IMMEDIATE")  # a reader in the middle of its transaction does not block a writer
            other.execute("INSERT INTO notes (who, n) VALUES ('raw', 1)")
            other.execute("COMMIT")
    finally:
        other.close()
    assert notes(store) == [("raw", 1)]


def test_two_threads_on_one_store_both_write_everything(tmp_path):
    store = Store(tmp_path / "a.db", notes_tables())
    errors: list[BaseException] = []

    def write(who: str) -> None:
        try:
            for i in range(150):
                with store.write() as conn:
                    conn.exec_driver_sql("INSERT INTO notes (who, n) VALUES (?, ?)", (who, i))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(who,)) for who in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    rows = notes(store)
    assert [n for who, n in rows if who == "a"] == list(range(150))
    assert [n for who, n in rows if who == "b"] == list(range(150))


WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import sqlalchemy as sa
    from ml_core.store import Store
    path, who, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    metadata = sa.MetaData()
    sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("who", sa.Text, nullable=False), sa.Column("n", sa.Integer, nullable=False))
    while not go.exists():  # both processes start writing at the same moment
        time.sleep(0.01)
    store = Store(path, metadata)  # both also create the table at once
    for i in range(200):
        with store.write() as conn:
            conn.exec_driver_sql("INSERT INTO notes (who, n) VALUES (?, ?)", (who, i))
""")


def test_two_processes_writing_one_file_at_once_both_succeed(tmp_path):
    path, go = tmp_path / "a.db", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), who, str(go)], stderr=subprocess.PIPE,
                              text=True) for who in "pq"]
    go.touch()
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    assert results == [(0, ""), (0, "")], "\n".join(err for _, err in results)  # the whole traceback, if any
    with Store(path, notes_tables()) as store:
        rows = notes(store)
    assert [n for who, n in rows if who == "p"] == list(range(200))
    assert [n for who, n in rows if who == "q"] == list(range(200))


def test_migration_adds_the_columns_and_indexes_an_existing_file_lacks(tmp_path):
    path = tmp_path / "a.db"
    with Store(path, notes_tables()) as old, old.write() as conn:
        conn.exec_driver_sql("INSERT INTO notes (who, n) VALUES ('a', 1)")
    newer = notes_tables(sa.Column("tag", sa.Text, nullable=False, server_default="none", index=True),
                         sa.Column("score", sa.Float))
    with Store(path, newer) as store, store.read() as conn:
        inspector = sa.inspect(conn)
        assert [c["name"] for c in inspector.get_columns("notes")] == ["id", "who", "n", "tag", "score"]
        assert [i["column_names"] for i in inspector.get_indexes("notes")] == [["tag"]]
        assert conn.exec_driver_sql("SELECT who, n, tag, score FROM notes").all() == [("a", 1, "none", None)]


def test_migration_refuses_a_new_required_column_without_a_default(tmp_path):
    path = tmp_path / "a.db"
    Store(path, notes_tables()).close()
    with pytest.raises(ValueError, match="notes.tag"):
        Store(path, notes_tables(sa.Column("tag", sa.Text, nullable=False)))


def test_append_only_tables_refuse_update_and_delete_from_any_connection(tmp_path):
    metadata = sa.MetaData()
    append_only(sa.Table("events", metadata, sa.Column("seq", sa.Integer, primary_key=True),
                         sa.Column("what", sa.Text)))
    path = tmp_path / "a.db"
    store = Store(path, metadata)
    with store.write() as conn:
        conn.exec_driver_sql("INSERT INTO events (what) VALUES ('kept')")
    with pytest.raises(sa.exc.DatabaseError, match="append-only: entries cannot be changed"), store.write() as conn:
        conn.exec_driver_sql("UPDATE events SET what = 'changed'")
    raw = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only: entries cannot be deleted"):
        raw.execute("DELETE FROM events")
    raw.close()
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT what FROM events").scalars().all() == ["kept"]


def test_upsert_replaces_the_other_columns_of_an_existing_key(db_target):
    metadata = sa.MetaData()
    table = sa.Table("kv", metadata, sa.Column("k", sa.Text, primary_key=True), sa.Column("v", sa.Integer))
    store = Store(db_target("a.db"), metadata)
    with store.write() as conn:
        upsert(conn, table, [{"k": "a", "v": 1}, {"k": "b", "v": 2}], keys=["k"])
        upsert(conn, table, [{"k": "a", "v": 3}], keys=["k"])
    with store.read() as conn:
        assert conn.execute(sa.select(table).order_by(table.c.k)).all() == [("a", 3), ("b", 2)]


# The prediction log's schema and writes as the raw-sqlite code before the store module had them.
OLD_PREDLOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT NOT NULL, record_id TEXT, ts REAL NOT NULL, model TEXT NOT NULL, version TEXT NOT NULL,
    role TEXT NOT NULL, fallback_reason TEXT, intended_version TEXT, score REAL NOT NULL, label INTEGER NOT NULL,
    latency_ms REAL NOT NULL, features TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions(ts);
CREATE INDEX IF NOT EXISTS predictions_record ON predictions(record_id);
CREATE TABLE IF NOT EXISTS rejections (
    request_id TEXT NOT NULL, ts REAL NOT NULL, model TEXT NOT NULL, reason TEXT NOT NULL, rows INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rejections_ts ON rejections(ts);
CREATE TABLE IF NOT EXISTS labels (record_id TEXT PRIMARY KEY, ts REAL NOT NULL, label INTEGER NOT NULL);
"""


def old_prediction_log(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(OLD_PREDLOG_SCHEMA)
    with conn:
        conn.executemany("INSERT INTO predictions VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", [
            ("q1", "c1", 10.0, "churn", "1", "champion", None, None, 0.8, 1, 4.5, '{"age": 30, "plan": "a"}'),
            ("q2", "c2", 20.0, "churn", "2", "fallback", "timeout", "3", 0.2, 0, 9.0, '{"age": 41, "plan": "b"}'),
        ])
        conn.execute("INSERT INTO rejections VALUES (?,?,?,?,?)", ("q3", 15.0, "churn", '{"errors": []}', 2))
        conn.executemany("INSERT OR REPLACE INTO labels VALUES (?,?,?)", [("c1", 30.0, 1), ("c2", 30.0, 1)])
    conn.close()


def test_a_prediction_log_written_by_the_old_code_still_reads_and_takes_writes(tmp_path):
    path = tmp_path / "churn.db"
    old_prediction_log(path)
    with PredictionLog(path) as log:
        window = log.predictions(since=15.0)
        assert window.to_dict("records") == [
            {"request_id": "q2", "record_id": "c2", "ts": 20.0, "model": "churn", "version": "2", "role": "fallback",
             "fallback_reason": "timeout", "intended_version": "3", "score": 0.2, "label": 0, "latency_ms": 9.0,
             "age": 41, "plan": "b"}]
        rejected = log.rejections(until=16.0)
        assert rejected[["request_id", "rows"]].to_dict("records") == [{"request_id": "q3", "rows": 2}]
        log.write_labels([("c2", 0)], ts=40.0)  # a later label replaces the earlier one
        labelled = log.labelled()
        pd.testing.assert_frame_equal(labelled, pd.DataFrame({
            "record_id": ["c1", "c2"], "ts": [10.0, 20.0], "version": ["1", "2"], "role": ["champion", "fallback"],
            "score": [0.8, 0.2], "predicted": [1, 0], "actual": [1, 0]}))
        assert log.labelled_features(until=15.0)[["record_id", "actual", "age"]].to_dict("records") == [
            {"record_id": "c1", "actual": 1, "age": 30}]
        assert log.count() == 2


def test_written_predictions_read_back_as_given(db_target):
    row = PredictionRow("q1", None, 5.0, "churn", "2", "canary", None, None, np.float32(0.25), np.int64(1), 3,
                        {"plan": "b", "age": 41})  # numpy numbers, as a model's output may be
    with PredictionLog(db_target("churn.db")) as log:
        log.write_predictions([row, dataclasses.replace(row, request_id="q2", record_id="c2", ts=6.0)])
        log.write_predictions([])
        assert log.predictions().to_dict("records") == [
            {"request_id": "q1", "record_id": None, "ts": 5.0, "model": "churn", "version": "2", "role": "canary",
             "fallback_reason": None, "intended_version": None, "score": 0.25, "label": 1, "latency_ms": 3.0,
             "plan": "b", "age": 41},
            {"request_id": "q2", "record_id": "c2", "ts": 6.0, "model": "churn", "version": "2", "role": "canary",
             "fallback_reason": None, "intended_version": None, "score": 0.25, "label": 1, "latency_ms": 3.0,
             "plan": "b", "age": 41}]


class _BusyThenWal:
    """A cursor whose first two WAL switches are refused as SQLite refuses them when waiting could deadlock."""

    def __init__(self, refusals: int, name: str = "SQLITE_BUSY"):
        self.refusals, self.name, self.calls = refusals, name, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.refusals:
            self.refusals -= 1
            exc = sqlite3.OperationalError("database is locked")
            exc.sqlite_errorname = self.name  # type: ignore[attr-defined]
            raise exc


def test_switching_to_wal_waits_out_a_busy_file_and_raises_anything_else():
    from ml_core.store_engine import _switch_to_wal

    busy = _BusyThenWal(refusals=2)
    _switch_to_wal(busy)
    assert busy.calls == 3
    with pytest.raises(sqlite3.OperationalError):
        _switch_to_wal(_BusyThenWal(refusals=1, name="SQLITE_IOERR"))


def test_an_old_prediction_log_loses_the_record_id_index_no_query_used(tmp_path):
    """The index on predictions.record_id cost every insert over half its time and no read used it: opening an old
    log drops it, and the labelled join still reads through the labels' primary key."""
    path = tmp_path / "churn.db"
    old_prediction_log(path)
    with PredictionLog(path) as log:
        assert log.labelled()["record_id"].tolist() == ["c1", "c2"]
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    conn.close()
    assert "predictions_record" not in names and "predictions_ts" in names
