"""The prediction log's tables and rows: what ``predlog.PredictionLog`` writes and reads, and how an older file is
brought up to date (``retire_indexes``).

``predictions`` has one index, on ``ts`` (every read is a time window). It had a second, on ``record_id``, that
no query used (the joins with ``labels`` go from a window of predictions to the labels' primary key: SQLite's
plan, with or without it) while every insert paid for it: with distinct record ids it was over half of a served
row's commit (~6 of ~10 µs a row at 256 rows a commit). A log written before keeps that index until ``PredictionLog``
opens it, and drops it (``RETIRED_INDEXES``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ml_core.predlog_segments import segments_table
from ml_core.store import Store

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
    # by time: every window read; no index on record_id: the joins with labels probe labels' primary key
    sa.Index("predictions_ts", "ts"),
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
manifest_table = segments_table(metadata)
LOG_COLUMNS = tuple(predictions_table.columns.keys())  # features last
LABELLED_COLUMNS = ("record_id", "ts", "version", "role", "score", "label")


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


RETIRED_INDEXES = {"predictions": ("predictions_record",)}  # dropped from a file that still has them


def retire_indexes(store: Store) -> None:
    """Drop the indexes this schema no longer has from an older file (checked without the write lock first, as
    ``migrate`` does; most opens find nothing to do)."""
    with store.read() as conn:
        inspector = sa.inspect(conn)
        tables = set(inspector.get_table_names())
        stale = [name for table, names in RETIRED_INDEXES.items() if table in tables
                 for name in names if name in {i["name"] for i in inspector.get_indexes(table)}]
    if stale:
        with store.write() as conn:
            for name in stale:
                conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
