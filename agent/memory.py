"""The agent's memory: runs, incidents, post-mortems, decisions and outcomes in a ChromaDB store.

A persistent client in ``OPSAGENT_HOME/memory``, or a Chroma server shared by a team (``url``, the setting
``OPSAGENT_CHROMA_URL``) with the same shipped embedding computed here; triage recalls similar past incidents
with metadata filters (model, kind) and cites them by id. ChromaDB holds the memories; recall ranks them exactly with
an in-process NumPy index (`agent.memory_index`) that stays current with writes from any process, and
reads the hits' texts and metadata back from ChromaDB.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import chromadb
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings
from pydantic import BaseModel, Field

from agent.embeddings import OfflineMiniLM, embed_texts
from agent.memory_errors import MemoryUnavailable
from agent.memory_index import ExactIndex, index_for

MemoryKind = Literal["training_run", "incident", "postmortem", "decision", "outcome"]
COLLECTION = "opsagent-memory"


class MemoryHit(BaseModel):
    id: str
    kind: MemoryKind
    model: str
    text: str
    similarity: float = Field(description="cosine similarity, 1.0 = identical meaning")
    created_at: float
    metadata: dict[str, Any] = Field(default_factory=dict)


class Memory:
    """Write and recall memories. Metadata values must be str, int, float or bool (ChromaDB's rule).

    ``path`` is the embedded store's folder; with ``url`` (a Chroma server) it only holds this machine's cache
    of the exact index, in a subfolder named after the server."""

    def __init__(self, path: Path, *, url: str | None = None):
        path.mkdir(parents=True, exist_ok=True)
        self.url = url
        if url is None:
            self.index: ExactIndex = index_for(path)  # before the client opens: the index notes when that was
            self.client = chromadb.PersistentClient(path=str(path),
                                                    settings=ChromaSettings(anonymized_telemetry=False))
        else:
            cache = path / f"server-{_server_slug(url)}"
            cache.mkdir(exist_ok=True)
            self.index = index_for(cache, remote=True)
            self.client = _http_client(url)
        self.collection = self.client.get_or_create_collection(
            COLLECTION, embedding_function=OfflineMiniLM(), metadata={"hnsw:space": "cosine"})  # type: ignore[arg-type]

    def record(self, kind: MemoryKind, text: str, *, model: str, metadata: dict[str, Any] | None = None,
               memory_id: str | None = None) -> str:
        """Store one memory and return its id (re-recording an id replaces it)."""
        if not text.strip():
            raise ValueError("a memory needs some text")
        _check_kind(kind)
        if not isinstance(model, str) or not model.strip():
            raise ValueError("a memory needs the name of the model it is about, e.g. model='churn'")
        vector = embed_texts([text])[0]
        meta = {k: v for k, v in (metadata or {}).items() if isinstance(v, str | int | float | bool)}
        # created_at is stamped after embedding, just before the write: other processes catch up by it.
        meta.update({"kind": kind, "model": model, "created_at": time.time()})
        mid = memory_id or f"{kind}-{uuid.uuid4().hex[:12]}"
        self.collection.upsert(ids=[mid], documents=[text], metadatas=[meta], embeddings=[vector])
        self.index.add(mid, vector, model, kind, float(meta["created_at"]))
        return mid

    def search(self, query: str, *, k: int = 5, model: str | None = None,
               kind: MemoryKind | None = None) -> list[MemoryHit]:
        """The ``k`` memories closest in meaning to ``query``, optionally only one model's or kind's (exact cosine)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k is how many memories to return and must be 1 or more, not {k!r}")
        if kind is not None:
            _check_kind(kind)
        if not query.strip():
            return []
        self.index.sync(self.collection)
        if not len(self.index):
            return []
        ranked = self.index.top(embed_texts([query])[0], k, model, kind)
        if not ranked:
            return []
        found = self.collection.get(ids=[mid for mid, _ in ranked], include=["documents", "metadatas"])
        rows = dict(zip(found["ids"], zip(found["documents"] or [], found["metadatas"] or [], strict=True),
                        strict=True))
        hits = []
        for mid, similarity in ranked:
            if mid not in rows:  # deleted by another process since the index caught up
                continue
            doc, meta = rows[mid]
            m = dict(meta or {})
            hits.append(MemoryHit(id=mid, kind=m.pop("kind"), model=str(m.pop("model")), text=doc or "",
                                  similarity=similarity, created_at=float(m.pop("created_at", 0.0) or 0.0),  # type: ignore[arg-type]
                                  metadata=m))
        return hits

    def count(self) -> int:
        """How many memories the store holds (ChromaDB's count, all processes' writes)."""
        return self.collection.count()


def _server_slug(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}-{parts.port or (443 if parts.scheme == 'https' else 8000)}"


def _http_client(url: str) -> ClientAPI:
    """A client of the Chroma server at ``url`` (http[s]://HOST[:PORT]); a clear error when it does not answer."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    try:
        return chromadb.HttpClient(host=parts.hostname or "", port=parts.port or (443 if https else 8000), ssl=https,
                                   settings=ChromaSettings(anonymized_telemetry=False))
    except Exception as exc:  # httpx's connection errors, or a server that is not Chroma
        raise MemoryUnavailable(f"the Chroma server at {url} (OPSAGENT_CHROMA_URL) does not answer: {exc}. Start "
                                "it (`chroma run --path DIR --host HOST --port PORT`), or unset OPSAGENT_CHROMA_URL "
                                "for the embedded store in OPSAGENT_HOME/memory") from exc


def _check_kind(kind: str) -> None:
    if kind not in get_args(MemoryKind):
        raise ValueError(f"kind must be one of {', '.join(get_args(MemoryKind))}, not {kind!r}")
