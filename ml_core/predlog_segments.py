"""Sealed segments of the prediction log: older predictions moved from SQLite rows into Parquet files, column-wise.

Serving keeps writing one SQLite row per prediction (WAL, committed before the answer goes out: an answered
prediction is logged). Reading a large window that way is slow and heavy — every row's features are a JSON text
parsed in Python (240,000 predictions took 25 s and 1.55 GB). So once the SQLite tail holds ``SEAL_ROWS`` rows,
a reader *seals* them: one Parquet file with typed columns (the JSON parsed once, by Arrow's C++ reader), then one
write transaction that records the file in the ``prediction_segments`` manifest and deletes the rows it holds.
A window is then read as Parquet columns (only the segments whose time range meets it, only the columns asked)
plus the small SQLite tail.

Nothing is lost or read twice: the file is complete and fsynced before the manifest names it; the manifest row
and the delete commit together; a segment covers a rowid range [first, last] and the tail is every row after the
last sealed rowid. A reader reads the manifest, then the tail, then the manifest again, and retries if a seal
committed in between (seals are rare, a retry is cheap). Two sealers racing both write a file, but only one
manifest row commits (the write transaction checks for overlap); the loser deletes its own file, which no
manifest names. Logs written before segments existed are all tail and keep reading; the first large read
migrates them. Only a SQLite file gets segments: on a database server the log stays rows (its files would be on
one machine's disk).
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import sqlalchemy as sa


def _purge_freed_buffers() -> None:
    """jemalloc (the pool ``ml_core`` asks Arrow for) told to return freed pages at once rather than after its
    ten-second decay: a tick's window is dropped before the next tick, and a service watching many models should
    not carry the last one's pages."""
    if pa.default_memory_pool().backend_name == "jemalloc":
        pa.jemalloc_set_decay_ms(0)


_purge_freed_buffers()

# A segment per 20,000 rows or more: below that the JSON tail is parsed in well under a second, and a day of a
# busy model (240,000 predictions an hour) makes a few hundred files, not millions.
SEAL_ROWS = 20_000
SEGMENT_MAX_ROWS = 250_000  # one Parquet file's rows at most: bounds the memory a seal takes
FEATURE_PREFIX = "f."  # feature columns in a segment, so a feature named like a log column ("score") cannot clash
RAW_FEATURES = "features"  # a segment whose features Arrow could not type (mixed types) keeps the JSON text
# Low-cardinality text columns are read dictionary-encoded: a million rows share a handful of Python strings.
IDENTIFIERS = frozenset({"request_id", "record_id"})


def segments_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "prediction_segments", metadata,
        sa.Column("file", sa.Text, primary_key=True),         # name inside the log's segment folder
        sa.Column("first_rowid", sa.Integer, nullable=False),  # the predictions' rowids it holds, inclusive
        sa.Column("last_rowid", sa.Integer, nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("ts_min", sa.Float, nullable=False),
        sa.Column("ts_max", sa.Float, nullable=False),
    )


@dataclass(frozen=True)
class Segment:
    file: str
    first_rowid: int
    last_rowid: int
    rows: int
    ts_min: float
    ts_max: float


def segment_dir(db_path: Path) -> Path:
    """Where a log file's segments live: beside it (``churn.db`` -> ``churn.segments/``)."""
    return db_path.with_name(db_path.stem + ".segments")


def read_manifest(conn: sa.Connection, table: sa.Table) -> tuple[Segment, ...]:
    rows = conn.execute(sa.select(table).order_by(table.c.first_rowid)).all()
    return tuple(Segment(*r) for r in rows)


def sealed_up_to(manifest: Sequence[Segment]) -> int:
    return max((s.last_rowid for s in manifest), default=0)


def arrow_rows(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pa.Table:
    """A segment's table from SQLite rows (``columns`` in order, the last one the features' JSON text)."""
    values = list(zip(*rows, strict=True))
    plain = {name: pa.array(values[i]) for i, name in enumerate(columns[:-1])}
    texts = values[-1]
    try:
        feats = pa_json.read_json(io.BytesIO("\n".join(texts).encode()))
        if feats.num_rows != len(texts):
            raise pa.ArrowInvalid("a features text holds more or less than one object")
        typed = {FEATURE_PREFIX + name: feats.column(name) for name in feats.column_names}
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # mixed types in a column: keep the text, lose nothing
        typed = {RAW_FEATURES: pa.array(texts, pa.string())}
    return pa.table({**plain, **typed})


def write_segment(directory: Path, table: pa.Table) -> str:
    """Write the table as a new Parquet file (complete and on disk before anyone names it); its name."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"seg-{uuid.uuid4().hex}.parquet"
    tmp = directory / f".{name}.tmp"
    with open(tmp, "wb") as f:
        pq.write_table(table, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / name)
    return name


def read_segments(directory: Path, manifest: Sequence[Segment], since: float | None, until: float | None,
                  columns: Sequence[str] | None) -> Iterator[pa.Table]:
    """The sealed rows in [since, until), one table per segment that meets the window, read one at a time (so
    a caller converting each holds one segment's Arrow buffers at once); ``columns``: the log columns wanted,
    ``features`` for every feature column; None: all."""
    meets = [s for s in manifest if (since is None or s.ts_max >= since) and (until is None or s.ts_min < until)]
    filters = [f for f in (("ts", ">=", since) if since is not None else None,
                           ("ts", "<", until) if until is not None else None) if f]
    for s in meets:
        path = directory / s.file
        yield pq.read_table(path, columns=_wanted(pq.read_schema(path).names, columns), filters=filters or None)


def segment_frames(tables: Iterable[pa.Table]) -> list[pd.DataFrame]:
    """Each segment table as a pandas frame, features under their own names."""
    return [_frame(t) for t in tables]


def join_labels(frames: list[pd.DataFrame], labels: Sequence[tuple[str, int]]) -> list[pd.DataFrame]:
    """Each frame inner-joined with the labels (record id, label) on record id, the label as ``actual``: one hash
    index of the labels, looked up by every segment."""
    if not frames:
        return []
    table = pd.DataFrame.from_records(labels, columns=["record_id", "actual"])
    index, actual = pd.Index(table["record_id"], dtype=object), table["actual"].to_numpy(np.int64)
    out = []
    for f in frames:
        pos = index.get_indexer(f["record_id"])
        keep = pos >= 0
        f = f.loc[keep]
        out.append(f.assign(actual=actual[pos[keep]]))
    return out


def oldest_first(sealed: list[pd.DataFrame], tail: pd.DataFrame) -> pd.DataFrame:
    """Sealed rows and tail rows as one frame (one concatenation), oldest first (a stable sort keeps the order
    of ties; rows sealed in arrival order usually need none)."""
    parts = [f for f in sealed if len(f)] + ([tail] if len(tail) else [])
    if not parts:
        return tail
    if len(parts) == 1:
        df = parts[0]
    else:
        # A text column with no value in any part (fallback_reason on a healthy day) is set afresh after joining:
        # pandas would test each of its million Nones to learn the column is empty.
        empty = [c for c in parts[0].columns if parts[0][c].dtype == object
                 and all(c in p.columns and p[c].isna().all() for p in parts)]
        df = pd.concat([p.drop(columns=empty) for p in parts], ignore_index=True)
        for c in empty:  # back in its place, without copying the other columns
            df.insert(list(parts[0].columns).index(c), c, None)
    return df if df["ts"].is_monotonic_increasing else df.sort_values("ts", kind="stable", ignore_index=True)


def _wanted(names: list[str], columns: Sequence[str] | None) -> list[str]:
    """A segment's columns to read: the log columns asked for, and every feature column when ``features`` is."""
    if columns is None:
        return names
    features = "features" in columns
    return [c for c in names if c in columns or (features and c.startswith(FEATURE_PREFIX))]


def _frame(table: pa.Table) -> pd.DataFrame:
    """One segment as pandas, features under their own names (an untyped segment's JSON parsed as before)."""
    df = _pandas(table)
    if RAW_FEATURES in df.columns:
        raw = df.pop(RAW_FEATURES)
        if len(raw):
            parsed = pd.DataFrame.from_records([json.loads(t) for t in raw], index=raw.index)
            df = pd.concat([df, parsed.add_prefix(FEATURE_PREFIX)], axis=1)
    df.columns = [c[len(FEATURE_PREFIX):] if c.startswith(FEATURE_PREFIX) else c for c in df.columns]  # no copy
    return df


def _pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow to pandas with text as Python strings (None for null), as the JSON path gives them; low-cardinality
    text shares one string object per distinct value (8 bytes a row, not 60)."""
    return _decoded(_encoded(table).to_pandas())


def _encoded(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_string(field.type) and field.name not in IDENTIFIERS and field.name != RAW_FEATURES:
            table = table.set_column(i, field.name, pc.dictionary_encode(table.column(i)))
    return table


def _decoded(df: pd.DataFrame) -> pd.DataFrame:
    for c in df.columns:
        if isinstance(df[c].dtype, pd.CategoricalDtype):
            values = np.array([*df[c].cat.categories, None], dtype=object)  # code -1 (null) takes the last: None
            df[c] = values[df[c].cat.codes.to_numpy()]
    return df


def joined_frame(tables: Iterable[pa.Table], tail: pd.DataFrame, log_columns: Sequence[str]) -> pd.DataFrame:
    """Sealed segments and the SQLite tail as one frame, oldest first: joined in Arrow and converted to pandas
    once, each Arrow column freed as it is converted (``self_destruct``), so a million-row window is held about
    once where converting each segment and then concatenating held it twice. Segments Arrow cannot join (untyped
    JSON features, columns of clashing types) take the frame-by-frame path."""
    sealed = [t for t in tables if t.num_rows]
    if not sealed or any(RAW_FEATURES in t.schema.names for t in sealed):
        return oldest_first(segment_frames(sealed), tail)
    logged = set(log_columns)
    renamed = tail.rename(columns={c: FEATURE_PREFIX + c for c in tail.columns if c not in logged})
    try:
        parts = sealed + ([pa.Table.from_pandas(renamed, preserve_index=False)] if len(tail) else [])
        combined = _encoded(pa.concat_tables(parts, promote_options="permissive"))
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError):  # ValueError: a feature
        # named like a log column, twice in the tail
        return oldest_first(segment_frames(sealed), tail)
    del parts, sealed, renamed  # the combined table alone holds the buffers now, so converting frees them
    df = _decoded(combined.to_pandas(split_blocks=True, self_destruct=True))
    del combined
    df.columns = [c[len(FEATURE_PREFIX):] if c.startswith(FEATURE_PREFIX) else c for c in df.columns]
    return df if df["ts"].is_monotonic_increasing else df.sort_values("ts", kind="stable", ignore_index=True)
