"""The durable prediction log: every prediction, rejected request and delayed label, in SQLite.

Serving writes it; monitoring and the simulator read it. WAL mode lets one writer and many readers
work at once; each write commits before the HTTP answer goes out, so an answered prediction is logged (the
service's writer thread commits the rows of every request waiting at that moment in one transaction).
Older predictions are sealed into column-wise Parquet segments beside the file (``predlog_segments``), so a
window of a million predictions reads in seconds; every read joins the segments and the SQLite tail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from ml_core.predlog_labels import label_table, labelled_frame
from ml_core.predlog_schema import (  # callers import the rows and LOG_COLUMNS from here too
    LABELLED_COLUMNS,
    LOG_COLUMNS,
    PredictionRow,
    RejectionRow,
    labels_table,
    manifest_table,
    metadata,
    predictions_table,
    rejections_table,
    retire_indexes,
)
from ml_core.predlog_segments import (
    SEAL_ROWS,
    SEGMENT_MAX_ROWS,
    arrow_rows,
    join_labels,
    joined_frame,
    oldest_first,
    read_manifest,
    read_segments,
    sealed_up_to,
    segment_dir,
    segment_frames,
    write_segment,
)
from ml_core.store import Handle, Store, insert_many, store_exists, upsert


class PredictionLog(Handle):
    """Thread-safe access to one model's prediction log (a SQLite path or a database URL); usable in ``with``."""

    def __init__(self, path: Path | str):
        self.path = path
        self.store = Store(path, metadata)
        retire_indexes(self.store)
        local = isinstance(path, Path) or "://" not in str(path)
        self.segments = segment_dir(Path(path)) if local and self.store.engine.dialect.name == "sqlite" else None

    def write_predictions(self, rows: Sequence[PredictionRow]) -> None:
        """Append one request's predictions in one transaction (committed before the answer goes out)."""
        # The table's column order; float()/int() as Core's types would (a numpy score is fine too).
        data = [(r.request_id, r.record_id, float(r.ts), r.model, r.version, r.role, r.fallback_reason,
                 r.intended_version, float(r.score), int(r.label), float(r.latency_ms), json.dumps(r.features))
                for r in rows]
        if data:
            with self.store.write() as conn:
                insert_many(conn, predictions_table, data)

    def append_rows(self, data: Sequence[tuple[Any, ...]]) -> None:
        """Predictions as tuples in the table's column order, ``features`` already JSON text, in one transaction
        (the scoring service's group commit builds its rows so: no dataclass and no ``json.dumps`` per row)."""
        if data:
            with self.store.write() as conn:
                insert_many(conn, predictions_table, data)

    def write_rejection(self, request_id: str, model: str, reason: list | dict, rows: int) -> None:
        """Record a request the service refused, with the validation errors."""
        with self.store.write() as conn:
            conn.execute(rejections_table.insert().values(request_id=request_id, ts=time.time(), model=model,
                                                          reason=json.dumps(reason, default=str), rows=rows))

    def write_labels(self, labels: Iterable[tuple[str, int]], ts: float | None = None) -> int:
        """Store delayed labels by record id (a later label for the same record replaces the earlier one)."""
        now = ts or time.time()
        data = [{"record_id": rid, "ts": now, "label": int(y)} for rid, y in labels]
        with self.store.write() as conn:
            upsert(conn, labels_table, data, keys=["record_id"])
        return len(data)

    def write_batch(self, *, predictions: Sequence[PredictionRow] = (), labels: Sequence[tuple[str, int, float]] = (),
                    rejections: Sequence[RejectionRow] = ()) -> None:
        """An ingested batch in one transaction, all or nothing: predictions, delayed labels (record id, label,
        arrival time; a later label replaces an earlier one) and the records refused. Rows land exactly as the
        scoring service writes them, so monitoring reads ingested and served traffic the same way."""
        data = [_prediction_tuple(r) for r in predictions]
        refused = [{"request_id": r.request_id, "ts": float(r.ts), "model": r.model,
                    "reason": json.dumps(r.reason, default=str), "rows": int(r.rows)} for r in rejections]
        with self.store.write() as conn:
            insert_many(conn, predictions_table, data)
            upsert(conn, labels_table, [{"record_id": rid, "ts": float(ts), "label": y} for rid, y, ts in labels],
                   keys=["record_id"])
            if refused:
                conn.execute(rejections_table.insert(), refused)

    def predictions(self, since: float | None = None, until: float | None = None,
                    with_features: bool = True, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Predictions in [since, until), oldest first; features expanded into columns when asked. ``columns``:
        only these log columns (a check of a million rows has no use for each one's request id)."""
        wanted = [c for c in LOG_COLUMNS if (columns is None or c in columns or c == "ts") and c != "features"]
        wanted += ["features"] if with_features else []
        table = predictions_table
        query = _window(sa.select(*(table.c[c] for c in wanted)), table, since, until)
        sealed, tail = self._read(query, since, until, wanted)
        if with_features and len(tail):
            feats = pd.DataFrame.from_records([json.loads(f) for f in tail.pop("features")], index=tail.index)
            tail = pd.concat([tail, feats], axis=1)
        elif "features" in tail:
            tail = tail.drop(columns=["features"])
        return joined_frame(sealed, tail, LOG_COLUMNS)

    def rejections(self, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        """Rejected requests in [since, until), oldest first."""
        return self._frame(_window(sa.select(rejections_table), rejections_table, since, until))

    def labelled(self, since: float | None = None, until: float | None = None, *,
                 with_ids: bool = True) -> pd.DataFrame:
        """Predictions in the window joined with the labels that have arrived for them; ``with_ids=False``:
        without their record ids (a check of a million predictions has no use for them)."""
        p, lb = predictions_table.c, labels_table.c
        q = sa.select(*([p.record_id] if with_ids else []), p.ts, p.version, p.role, p.score,
                      p.label.label("predicted"), lb.label.label("actual")).join_from(
            predictions_table, labels_table, p.record_id == lb.record_id)
        sealed, tail = self._read(_window(q, predictions_table, since, until), since, until, LABELLED_COLUMNS)
        segments = [t for t in sealed if t.num_rows]
        if not segments:
            return tail
        with self.store.read() as conn:
            labels = label_table(_driver(conn))
        return oldest_first([labelled_frame(segments, labels, list(tail.columns))], tail)

    def labelled_features(self, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        """Features of labelled predictions in the window plus their actual label: training data."""
        p, lb = predictions_table.c, labels_table.c
        q = sa.select(p.record_id, p.ts, p.features, lb.label.label("actual")).join_from(
            predictions_table, labels_table, p.record_id == lb.record_id)
        sealed, tail = self._read(_window(q, predictions_table, since, until), since, until,
                                  ("record_id", "ts", "features"))
        if len(tail):
            feats = pd.DataFrame.from_records([json.loads(f) for f in tail.pop("features")], index=tail.index)
            tail = pd.concat([tail, feats], axis=1)
        else:
            tail = tail.drop(columns=["features"])
        frames = [f[["record_id", "ts", "actual"] + [c for c in f.columns if c not in ("record_id", "ts", "actual")]]
                  for f in self._with_labels(segment_frames(sealed))]
        return oldest_first(frames, tail).drop(columns=["ts"])

    def count(self) -> int:
        """How many predictions the log holds."""
        with self.store.read() as conn:
            rows = int(conn.execute(sa.select(sa.func.count()).select_from(predictions_table)).scalar_one())
            return rows + sum(s.rows for s in read_manifest(conn, manifest_table))

    def seal(self, min_rows: int = SEAL_ROWS) -> int:
        """Move the SQLite tail into Parquet segments while it holds ``min_rows`` or more; how many rows moved.

        The newest row always stays in SQLite: SQLite gives a new row the largest rowid plus one, so an emptied
        table would hand out rowids the segments already cover."""
        if self.segments is None:
            return 0
        moved = 0
        while True:
            with self.store.read() as conn:
                start = sealed_up_to(read_manifest(conn, manifest_table))
                rows = _driver(conn).execute(
                    f"SELECT rowid, {', '.join(LOG_COLUMNS)} FROM predictions WHERE rowid > ? AND rowid < "
                    "(SELECT max(rowid) FROM predictions) ORDER BY rowid LIMIT ?", (start, SEGMENT_MAX_ROWS)).fetchall()
            if not rows or len(rows) < min_rows:
                return moved
            if not self._commit_segment(start, rows):
                return moved
            moved += len(rows)

    def _commit_segment(self, start: int, rows: list[Any]) -> bool:
        """Write one segment and, in one transaction, name it in the manifest and delete its rows (False: another
        sealer committed first; this one's file is removed)."""
        assert self.segments is not None
        table = arrow_rows([r[1:] for r in rows], LOG_COLUMNS)
        name = write_segment(self.segments, table)
        ts = table.column("ts").to_numpy()
        with self.store.write() as conn:
            if sealed_up_to(read_manifest(conn, manifest_table)) != start:
                (self.segments / name).unlink(missing_ok=True)
                return False
            conn.execute(manifest_table.insert().values(
                file=name, first_rowid=rows[0][0], last_rowid=rows[-1][0], rows=len(rows),
                ts_min=float(ts.min()), ts_max=float(ts.max())))
            conn.exec_driver_sql("DELETE FROM predictions WHERE rowid BETWEEN ? AND ?", (rows[0][0], rows[-1][0]))
        return True

    def _read(self, tail_query: sa.Select[Any], since: float | None, until: float | None,
              columns: Any) -> tuple[Iterator[pa.Table], pd.DataFrame]:
        """The sealed rows of the window (a table per segment) and the SQLite tail's rows by ``tail_query``;
        sealing first when the tail has grown. Manifest, tail, manifest: a seal committed in between reads again."""
        if self.segments is None:
            return iter(()), self._frame(tail_query)
        self.seal()
        for _ in range(10):
            with self.store.read() as conn:
                before = read_manifest(conn, manifest_table)
                tail = pd.read_sql_query(tail_query.where(_rowid_after(sealed_up_to(before))), conn)
                if read_manifest(conn, manifest_table) == before:
                    break
        return read_segments(self.segments, before, since, until, columns), tail

    def _with_labels(self, sealed: list[pd.DataFrame]) -> list[pd.DataFrame]:
        """Sealed predictions joined with every label that has arrived (inner, on record id), as the SQL join."""
        if not sealed:
            return []
        with self.store.read() as conn:
            labels = _driver(conn).execute("SELECT record_id, label FROM labels").fetchall()
        return join_labels(sealed, labels)

    def _frame(self, query: sa.Select[Any]) -> pd.DataFrame:
        with self.store.read() as conn:
            return pd.read_sql_query(query, conn)


def log_exists(target: Path | str) -> bool:
    """Whether a prediction log exists at ``target`` (a SQLite path or a database URL), creating nothing."""
    return store_exists(target, predictions_table.name)


def _prediction_tuple(r: PredictionRow) -> tuple[Any, ...]:
    """A prediction in the table's column order, as ``write_predictions`` builds it."""
    return (r.request_id, r.record_id, float(r.ts), r.model, r.version, r.role, r.fallback_reason,
            r.intended_version, float(r.score), int(r.label), float(r.latency_ms), json.dumps(r.features))


def _driver(conn: sa.Connection) -> Any:
    """The sqlite3 connection under ``conn``: its rows come as plain tuples, several times faster for bulk reads
    than through SQLAlchemy's result processing (only used on a SQLite log)."""
    return conn.connection.driver_connection


def _rowid_after(rowid: int) -> sa.ColumnElement[bool]:
    """Rows of the SQLite tail: after the last sealed rowid."""
    return sa.literal_column("predictions.rowid") > rowid


def _window(query: sa.Select[Any], table: sa.Table, since: float | None, until: float | None) -> sa.Select[Any]:
    """``query`` restricted to rows of ``table`` with ``since <= ts < until`` (either bound optional), by time."""
    if since is not None:
        query = query.where(table.c.ts >= since)
    if until is not None:
        query = query.where(table.c.ts < until)
    return query.order_by(table.c.ts)
