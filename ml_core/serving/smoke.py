"""Readiness: a version must score one plausible record before any traffic reaches it."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from ml_core.adopted import RegistryModel
from ml_core.data.schema import TableSchema


def smoke_record(schema: TableSchema) -> dict[str, Any]:
    """One plausible, valid record built from the schema (mid-low numbers, first categories)."""
    row: dict[str, Any] = {}
    for c in schema.columns:
        if c.kind == "categorical":
            row[c.name] = c.categories[0]
        else:
            v = (c.low or 0) + 0.05 * ((c.high or 1) - (c.low or 0))
            row[c.name] = round(v) if c.kind == "integer" else v
    return row


def smoke_check(model: RegistryModel, schema: TableSchema) -> float:
    """Readiness: the artifact scores a valid record with finite probabilities. Returns milliseconds.

    Injected faults (``model.fault``) are set aside: they stand for failures that only live traffic
    reveals, which graceful degradation — not readiness — must absorb.
    """
    t0 = time.perf_counter()
    fault, model.fault = model.fault, None
    records = [smoke_record(schema)] * 2
    try:
        p = np.asarray(model.predict_proba(pd.DataFrame(records, columns=schema.feature_names)))
        # The service scores through the records path when the model has one (``TabularModel``): it must agree
        # with the DataFrame path, and its first call (which traces the net) belongs here, not in a request.
        by_records = getattr(model, "predict_proba_records", None)
        q = np.asarray(by_records(records)) if by_records is not None else p
    finally:
        model.fault = fault
    if p.shape != (2,) or not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError(f"smoke prediction returned {p!r}, expected two probabilities in [0, 1]")
    if q.shape != p.shape or not np.allclose(q, p, rtol=0.0, atol=1e-6):
        raise ValueError(f"the serving path scored {q!r} where the model's own scoring gives {p!r}")
    return (time.perf_counter() - t0) * 1000
