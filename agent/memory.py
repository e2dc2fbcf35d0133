"""The agent's memory: runs, incidents, post-mortems, decisions and outcomes in a ChromaDB store.

A persistent client in ``OPSAGENT_HOME/memory``; triage recalls similar past incidents with metadata
filters (model, kind) and cites them by id.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any, Literal

import chromadb
from chromadb.config import Settings as ChromaSettings
from pydantic import BaseModel, Field

from agent.embeddings import OfflineMiniLM

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
    """Write and recall memories. Metadata values must be str, int, float or bool (ChromaDB's rule)."""

    def __init__(self, path: Path):
        path.mkdir(parents=True, exist_ok=True)
        self.client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
        self.collection = self.client.get_or_create_collection(
            COLLECTION, embedding_function=OfflineMiniLM(), metadata={"hnsw:space": "cosine"})  # type: ignore[arg-type]

    def record(self, kind: MemoryKind, text: str, *, model: str, metadata: dict[str, Any] | None = None,
               memory_id: str | None = None) -> str:
        """Store one memory and return its id (re-recording an id replaces it)."""
        if not text.strip():
            raise ValueError("a memory needs some text")
        meta = {k: v for k, v in (metadata or {}).items() if isinstance(v, str | int | float | bool)}
        meta.update({"kind": kind, "model": model, "created_at": time.time()})
        mid = memory_id or f"{kind}-{uuid.uuid4().hex[:12]}"
        self.collection.upsert(ids=[mid], documents=[text], metadatas=[meta])
        return mid

    def search(self, query: str, *, k: int = 5, model: str | None = None,
               kind: MemoryKind | None = None) -> list[MemoryHit]:
        """The ``k`` memories closest in meaning to ``query``, optionally only one model's or kind's."""
        if not query.strip() or not self.collection.count():
            return []
        filters: list[dict[str, Any]] = [{f: v} for f, v in (("model", model), ("kind", kind)) if v is not None]
        where: dict[str, Any] | None = None if not filters else filters[0] if len(filters) == 1 else {"$and": filters}
        found = self.collection.query(query_texts=[query], n_results=min(k, self.collection.count()),
                                      where=where, include=["documents", "metadatas", "distances"])
        hits = []
        for mid, doc, meta, dist in zip(found["ids"][0], (found["documents"] or [[]])[0],
                                        (found["metadatas"] or [[]])[0], (found["distances"] or [[]])[0],
                                        strict=True):
            m = dict(meta)
            hits.append(MemoryHit(id=mid, kind=m.pop("kind"), model=str(m.pop("model")), text=doc or "",
                                  similarity=1.0 - float(dist), created_at=float(m.pop("created_at") or 0.0),  # type: ignore[arg-type]
                                  metadata=m))
        return hits

    def count(self) -> int:
        return self.collection.count()
