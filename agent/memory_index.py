"""An exact in-process cosine index over the memory collection, kept current with the ChromaDB store.

Why: Chroma's HNSW search with a metadata filter grows with the store (~30 ms at 20k memories) and its
unfiltered recall@5 was 0.90; a NumPy scan over unit vectors is exact and takes a few ms at 50k. ChromaDB
stays the source of truth (other processes write to the same folder); this index only ranks.

Rows are (id, unit vector, model, kind, created_at). Loading: our own snapshot file in the store folder (a
cache, checked against Chroma) or, failing that, Chroma itself; then it is kept current by catching up
whenever Chroma's SQLite file changed (a ``stat`` and SQLite's file change counter, microseconds): the rows
with ``created_at`` since the last catch-up (less ``SLACK_S``), then a ``count()`` check that falls back to a
full reload when rows vanished or were written without a recent ``created_at``.

Vectors of rows written by other processes are embedded here from their documents: a PersistentClient
loads the vector segment when it opens and never sees later writes from other processes (chromadb 1.5:
``get(include=["embeddings"])`` fails with "Error finding id" for their new rows and returns the old vector
for replaced ones), while documents and metadata (SQLite) are always current, and a memory's vector is a
function of its document. Chroma's vectors are used only for rows stamped before this process opened the
store (less ``SLACK_S``). The one case this misses: another process replacing a memory under its old id while
keeping an old ``created_at`` (``Memory.record`` always stamps a new one); it is ranked by its old vector until
a process that opened the store later rebuilds the snapshot.

On a Chroma server (``remote``) there is no file to watch and no stale view: every search catches up (one
filtered ``get`` and a ``count``, a few ms on a LAN), and every vector is read from the server, which sees all
writes. The snapshot is then this machine's cache of the server's rows, in its own folder.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.errors import ChromaError

from agent.embeddings import DIMENSIONS, embed_texts
from agent.memory_rows import Rows, read_snapshot, write_snapshot

SLACK_S = 120.0  # a writer stamps created_at before its upsert commits; rows that late are still caught up
PAGE = 5000  # embeddings per Chroma get: each row crosses into Python as 384 floats
REWRITE_AFTER = 500  # rows caught up at load after which the snapshot is rewritten


class ExactIndex:
    """Exact top-k cosine search over one store folder's memories; one per folder per process, thread-safe."""

    def __init__(self, path: Path, *, remote: bool = False):
        self.path = path
        self.remote = remote
        # Created before Chroma opens the folder in this process. A server's vectors are never stale: trust all.
        self.opened_at = float("inf") if remote else time.time()
        self._lock = threading.RLock()
        self._rows = Rows(DIMENSIONS)
        self._loaded = False
        self._marker: tuple[int, ...] | None = None
        self._synced_at = 0.0
        self._own: dict[str, tuple[float, np.ndarray]] = {}  # this process's writes before the index loaded
        self.load_seconds: float | None = None  # what the first search paid to load (benchmarks report it)
        self.load_source = ""  # where the first load's vectors came from, in words
        self.last_counts = {"kept": 0, "read": 0, "embedded": 0}  # where the last batch of vectors came from

    def marker(self) -> tuple[int, ...]:
        """A cheap change marker of Chroma's SQLite file: its stat, and the change counter SQLite bumps in the
        file header on every commit (journal mode 'delete', Chroma's), which a coarse mtime tick cannot hide."""
        out: list[int] = []
        for suffix in ("", "-wal"):
            try:
                with (self.path / f"chroma.sqlite3{suffix}").open("rb") as fh:
                    st = os.fstat(fh.fileno())
                    out += [st.st_mtime_ns, st.st_size, st.st_ino, int.from_bytes(fh.read(28)[24:28], "big")]
            except FileNotFoundError:
                continue
        return tuple(out)

    def sync(self, collection: Any) -> None:
        """Load on first use, then catch up with writes from any process when the store changed."""
        with self._lock:
            if not self._loaded:
                start = time.perf_counter()
                self._load(collection)
                self.load_seconds, self._loaded = time.perf_counter() - start, True
                self._own.clear()
            elif self.remote or self.marker() != self._marker:
                self._catch_up(collection)

    def add(self, mid: str, vector: np.ndarray, model: str, kind: str, created_at: float) -> None:
        """Record this process's own write (already upserted to Chroma) without re-reading it."""
        with self._lock:
            if self._loaded:
                self._rows.upsert([mid], vector[None, :], [model], [kind], [created_at])
            elif len(self._own) < 10_000:  # a process that only writes must not grow without bound
                self._own[mid] = (created_at, vector)

    def top(self, query: np.ndarray, k: int, model: str | None, kind: str | None) -> list[tuple[str, float]]:
        """The ``k`` (id, cosine similarity) pairs closest to the unit vector ``query``, best first."""
        with self._lock:
            return self._rows.top(query, k, model, kind)

    def __len__(self) -> int:
        return len(self._rows)

    def _load(self, collection: Any) -> None:
        snap = read_snapshot(self.path, str(collection.id), DIMENSIONS)
        if snap is None:
            self._full_load(collection)
            return
        self._rows, self._synced_at = snap
        self.load_source = "snapshot"
        caught_up = self._catch_up(collection)  # a count mismatch here reloads from Chroma and says so
        if self.load_source == "snapshot":
            self.load_source = f"snapshot + {caught_up} rows caught up"
        if caught_up > REWRITE_AFTER and self.load_source.startswith("snapshot"):
            write_snapshot(self.path, str(collection.id), self._rows, self._synced_at)

    def _full_load(self, collection: Any) -> None:
        marker, started = self.marker(), time.time()
        ids, metas = _metadatas(collection, None)
        rows = Rows(DIMENSIONS)
        rows.upsert(ids, self._vectors(collection, ids, metas), [str(m.get("model", "")) for m in metas],
                    [str(m.get("kind", "")) for m in metas], [_created(m) for m in metas])
        self._rows, self._marker, self._synced_at = rows, marker, started
        n = self.last_counts
        self.load_source = f"chroma: {n['read']} read, {n['embedded']} embedded from documents, {n['kept']} held"
        write_snapshot(self.path, str(collection.id), rows, started)

    def _catch_up(self, collection: Any) -> int:
        """Apply rows stamped since the last catch-up; reload fully when Chroma's count disagrees."""
        marker, started = self.marker(), time.time()
        got = zip(*_metadatas(collection, {"created_at": {"$gte": self._synced_at - SLACK_S}}), strict=True)
        new = [(mid, m) for mid, m in got if self._rows.created_at(mid) != _created(m)]
        if new:
            ids, metas = [mid for mid, _ in new], [m for _, m in new]
            self._rows.upsert(ids, self._vectors(collection, ids, metas), [str(m.get("model", "")) for m in metas],
                              [str(m.get("kind", "")) for m in metas], [_created(m) for m in metas])
        self._marker, self._synced_at = marker, started
        if collection.count() != len(self._rows):  # rows deleted, or written without created_at
            self._full_load(collection)
        return len(new)

    def _vectors(self, collection: Any, ids: list[str], metas: list[dict[str, Any]]) -> np.ndarray:
        """Vectors for rows: those already held or written here as they are, old rows from Chroma, newer
        rows (possibly another process's, which this process's Chroma cannot give) embedded from documents."""
        out = np.zeros((len(ids), DIMENSIONS), dtype=np.float32)
        from_chroma: list[int] = []
        to_embed: list[int] = []
        failed = 0
        for i, (mid, meta) in enumerate(zip(ids, metas, strict=True)):
            own = self._own.get(mid)
            if self._rows.created_at(mid) == _created(meta):
                out[i] = self._rows.vector(mid)
            elif own is not None and own[0] == _created(meta):
                out[i] = own[1]
            elif _created(meta) < self.opened_at - SLACK_S:
                from_chroma.append(i)
            else:
                to_embed.append(i)
        pending = [from_chroma[start:start + PAGE] for start in range(0, len(from_chroma), PAGE)]
        while pending:
            chunk = pending.pop()
            try:
                got = collection.get(ids=[ids[i] for i in chunk], include=["embeddings"])
                by_id = dict(zip(got["ids"], np.asarray(got["embeddings"], dtype=np.float32), strict=True))
                out[chunk] = np.stack([by_id[ids[i]] for i in chunk])
            except (ChromaError, KeyError):  # a row this process's Chroma view lacks ("Error finding id")
                if len(chunk) > 1:  # halve until the rows it lacks are found, and embed only those
                    pending += [chunk[:len(chunk) // 2], chunk[len(chunk) // 2:]]
                else:
                    to_embed += chunk
                    failed += 1
        kept = len(ids) - len(from_chroma) - len(to_embed) + failed
        self.last_counts = {"kept": kept, "read": len(from_chroma) - failed, "embedded": len(to_embed)}
        for start in range(0, len(to_embed), 256):
            chunk = to_embed[start:start + 256]
            got = collection.get(ids=[ids[i] for i in chunk], include=["documents"])
            docs = dict(zip(got["ids"], got["documents"] or [], strict=True))
            out[chunk] = embed_texts([docs.get(ids[i]) or "" for i in chunk])
        return out


def _metadatas(collection: Any, where: dict[str, Any] | None) -> tuple[list[str], list[dict[str, Any]]]:
    """Ids and metadata of the rows ``where`` keeps, a page at a time (one get of 50k rows overflows SQLite's
    limit on query variables). A write between pages can shift them; the next catch-up's count check heals that."""
    ids: list[str] = []
    metas: list[dict[str, Any]] = []
    while True:
        got = collection.get(where=where, include=["metadatas"], limit=PAGE, offset=len(ids))
        ids += got["ids"]
        metas += [dict(m or {}) for m in got["metadatas"] or []]
        if len(got["ids"]) < PAGE:
            return ids, metas


def _created(meta: dict[str, Any]) -> float:
    value = meta.get("created_at")
    return float(value) if isinstance(value, int | float) else 0.0


_indexes: dict[str, ExactIndex] = {}
_indexes_lock = threading.Lock()


def index_for(path: Path, *, remote: bool = False) -> ExactIndex:
    """The one index of a store folder (or a server's cache folder) in this process: Memory objects share it."""
    key = str(path.resolve())
    with _indexes_lock:
        if key not in _indexes:
            _indexes[key] = ExactIndex(path, remote=remote)
        return _indexes[key]
