"""Records as another serving system would send them, for the ingest tests (ml_core, CLI, HTTP, end to end)."""

from __future__ import annotations

import math
import time

import pandas as pd


def prediction_records(rows: pd.DataFrame, start: float | None = None, version: str = "3") -> list[dict]:
    """One record per credit row: its features and id, a timestamp a second apart, a score, the version."""
    start = time.time() - 600 if start is None else start
    out = []
    for i, row in enumerate(rows.drop(columns=["Status"], errors="ignore").to_dict("records")):
        rec = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        rec.update(timestamp=start + i, score=round(0.05 + 0.9 * (i % 10) / 10, 3), version=version, latency_ms=12.5)
        out.append(rec)
    return out
