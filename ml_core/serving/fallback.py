"""The last fallbacks, for when no model version can answer: a saved SimpleBaseline, else a constant prior."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


class Scorer(Protocol):
    threshold: float

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray: ...


@dataclass
class PriorScorer:
    """A constant score; it never flags churn (threshold above 1), since it knows nothing of the customer."""

    prior: float = 0.5
    threshold: float = 1.01
    name: str = "prior"

    def predict_proba(self, df: pd.DataFrame) -> np.ndarray:
        return np.full(len(df), self.prior, dtype=np.float64)


def load_baseline(path: Path) -> Scorer | None:
    """The SimpleBaseline saved at ``path``, or None when there is none (or ml_core.baseline is absent)."""
    if not path.exists() or importlib.util.find_spec("ml_core.baseline") is None:
        return None
    try:
        from ml_core.baseline import SimpleBaseline  # written alongside; optional at runtime

        return SimpleBaseline.load(path)
    except Exception as exc:  # a bad baseline file must not stop the service; the prior still answers
        log.warning("could not load the fallback baseline at %s: %s", path, exc)
        return None
