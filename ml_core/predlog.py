"""The durable prediction log: every prediction, rejected request and delayed label, in SQLite.

Serving writes it; monitoring and the simulator read it. WAL mode lets one writer and many readers
work at once; each write commits before the HTTP answer goes out, so an answered prediction is logged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from ml_core.store import Handle, Store, insert_many, upsert

metadata = sa.MetaData()
predictions_table = sa.Table(
    "predictions", metadata,
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("record_id", sa.Text),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),            # champion | canary | fallback
    sa.Column("fallback_reason", sa.Text),                 # why the primary version did not answer (error, timeout)
    sa.Column("intended_version", sa.Text),                # the version the router picked, when a fallback answered
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("label", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("features", sa.Text, nullable=False),        # JSON object of the validated input row
    sa.Index("predictions_ts", "ts"),
    sa.Index("predictions_record", "record_id"),
)
rejections_table = sa.Table(
    "rejections", metadata,
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),          # JSON list of validation errors
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Index("rejections_ts", "ts"),
)
labels_table = sa.Table(
    "labels", metadata,
    sa.Column("record_id", sa.Text, primary_key=True),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("label", sa.Integer, nullable=False),
)


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


@dataclass(frozen=True)
class RejectionRow:
    """One refused request (served) or record (ingested), as ``write_rejection`` stores it."""

    request_id: str
    ts: float
    model: str
    reason: list | dict  # the validation errors, JSON-ready ({"detail", "error_count", "errors": [...]})
    rows: int


class PredictionLog(Handle):
    """Thread-safe access to one model's prediction log (a SQLite path or a database URL); usable in ``with``."""

    def __init__(self, path: Path | str):
        self.path = path
        self.store = Store(path, metadata)

    def write_predictions(self, rows: Sequence[PredictionRow]) -> None:
        """Append one request's predictions in one transaction (committed before the answer goes out)."""
        # The table's column order; float()/int() as Core's types would (a numpy score is fine too).
        data = [(r.request_id, r.record_id, float(r.ts), r.model, r.version, r.role, r.fallback_reason,
                 r.intended_version, float(r.score), int(r.label), float(r.latency_ms), json.dumps(r.features))
                for r in rows]
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
                    with_features: bool = True) -> pd.DataFrame:
        """Predictions in [since, until); features expanded into columns when asked."""
        df = self._frame(_window(sa.select(predictions_table), predictions_table, since, until))
        if with_features and len(df):
            feats = pd.DataFrame.from_records([json.loads(f) for f in df.pop("features")], index=df.index)
            df = pd.concat([df, feats], axis=1)
        elif "features" in df:
            df = df.drop(columns=["features"])
        return df

    def rejections(self, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        """Rejected requests in [since, until), oldest first."""
        return self._frame(_window(sa.select(rejections_table), rejections_table, since, until))

    def labelled(self, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        """Predictions in the window joined with the labels that have arrived for them."""
        p, lb = predictions_table.c, labels_table.c
        q = sa.select(p.record_id, p.ts, p.version, p.role, p.score, p.label.label("predicted"),
                      lb.label.label("actual")).join_from(predictions_table, labels_table, p.record_id == lb.record_id)
        return self._frame(_window(q, predictions_table, since, until))

    def labelled_features(self, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        """Features of labelled predictions in the window plus their actual label: training data."""
        p, lb = predictions_table.c, labels_table.c
        q = sa.select(p.record_id, p.features, lb.label.label("actual")).join_from(
            predictions_table, labels_table, p.record_id == lb.record_id)
        df = self._frame(_window(q, predictions_table, since, until))
        if not len(df):
            return df
        feats = pd.DataFrame.from_records([json.loads(f) for f in df.pop("features")], index=df.index)
        return pd.concat([df, feats], axis=1)

    def count(self) -> int:
        """How many predictions the log holds."""
        with self.store.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(predictions_table)).scalar_one())

    def _frame(self, query: sa.Select[Any]) -> pd.DataFrame:
        with self.store.read() as conn:
            return pd.read_sql_query(query, conn)


def _prediction_tuple(r: PredictionRow) -> tuple[Any, ...]:
    """A prediction in the table's column order, as ``write_predictions`` builds it."""
    return (r.request_id, r.record_id, float(r.ts), r.model, r.version, r.role, r.fallback_reason,
            r.intended_version, float(r.score), int(r.label), float(r.latency_ms), json.dumps(r.features))


def _window(query: sa.Select[Any], table: sa.Table, since: float | None, until: float | None) -> sa.Select[Any]:
    """``query`` restricted to rows of ``table`` with ``since <= ts < until`` (either bound optional), by time."""
    if since is not None:
        query = query.where(table.c.ts >= since)
    if until is not None:
        query = query.where(table.c.ts < until)
    return query.order_by(table.c.ts)
