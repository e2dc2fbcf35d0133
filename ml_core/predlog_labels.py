"""Sealed predictions joined with their delayed labels in Arrow: the labelled half of a large window.

A check of a million predictions, half of them labelled, joined in pandas held every record id as a Python
string twice over (the segments' ids and a hash index of the labels' ids), about 200 MB for ids the check never
reads. In Arrow the ids stay packed buffers, the join is one hash lookup in C++, and only the joined rows, in
the columns asked for, become pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FETCH_ROWS = 50_000  # labels fetched from SQLite per batch: a few MB of Python tuples at a time


def label_table(driver: Any) -> pa.Table:
    """Every stored label as an Arrow table (``record_id``, ``actual``), read in batches from a sqlite3
    connection so the Python rows never exist all at once."""
    cursor = driver.execute("SELECT record_id, label FROM labels")
    ids: list[pa.Array] = []
    labels: list[pa.Array] = []
    while rows := cursor.fetchmany(FETCH_ROWS):
        ids.append(pa.array([r[0] for r in rows], pa.string()))
        labels.append(pa.array([r[1] for r in rows], pa.int64()))
    return pa.table({"record_id": pa.chunked_array(ids, pa.string()),
                     "actual": pa.chunked_array(labels, pa.int64())})


def labelled_frame(segments: Sequence[pa.Table], labels: pa.Table, columns: Sequence[str]) -> pd.DataFrame:
    """The segments' predictions that have a label, as pandas in ``columns`` (log names, the segment's
    ``label`` given as ``predicted``, the stored label as ``actual``), in the segments' order. Record ids are
    unique in the labels table (its primary key), so the inner join is a lookup."""
    tables = [t for t in segments if t.num_rows]
    if not tables:
        return pd.DataFrame(columns=list(columns))
    seg = pa.concat_tables(tables, promote_options="permissive")
    seg = seg.rename_columns(["predicted" if n == "label" else n for n in seg.schema.names])
    position = pc.index_in(seg["record_id"], value_set=labels["record_id"].combine_chunks())
    found = pc.is_valid(position)
    seg, position = seg.filter(found), position.filter(found)
    seg = seg.append_column("actual", labels["actual"].take(position))
    return seg.select(list(columns)).to_pandas()
