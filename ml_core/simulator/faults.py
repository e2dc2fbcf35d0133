"""Apply a scenario's data faults to a batch of customers (pure pandas, no I/O)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ml_core.data.schema import TableSchema
from ml_core.simulator.scenario import (
    ConceptDrift,
    Corruption,
    CovariateDrift,
    LabelShift,
    NullStorm,
    Scenario,
    SchemaBreak,
)


def sample_customers(pool: pd.DataFrame, n: int, rng: np.random.Generator, scenario: Scenario | None,
                     active: bool, schema: TableSchema) -> pd.DataFrame:
    """Draw ``n`` customers; under label shift, churners are drawn at the scenario's rate.

    Without label shift, customers come in a random order without repeats until the pool is used up:
    resampling a small pool with replacement would itself look like drift to a chi-square test.
    """
    shift = next((f for f in (scenario.faults if scenario else []) if isinstance(f, LabelShift)), None)
    if not (active and shift):
        return pool.iloc[_next_indices(pool, n, rng)].reset_index(drop=True)
    y = schema.labels_to_int(pool[schema.label]).to_numpy()
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    take_pos = rng.random(n) < shift.positive_rate
    idx = np.where(take_pos, pos[rng.integers(0, len(pos), n)], neg[rng.integers(0, len(neg), n)])
    return pool.iloc[idx].reset_index(drop=True)


_cursor: dict[int, tuple[np.ndarray, int]] = {}


def _next_indices(pool: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
    """The next ``n`` rows of a per-pool random permutation, reshuffled when exhausted."""
    order, pos = _cursor.get(id(pool), (rng.permutation(len(pool)), 0))
    out: list[int] = []
    while len(out) < n:
        if pos >= len(order):
            order, pos = rng.permutation(len(pool)), 0
        take = order[pos:pos + n - len(out)]
        out.extend(take.tolist())
        pos += len(take)
    _cursor[id(pool)] = (order, pos)
    return np.asarray(out)


def in_segment(batch: pd.DataFrame, segment: dict[str, str]) -> np.ndarray:
    """Which rows of ``batch`` a segmented fault affects (all rows for an empty segment)."""
    mask = np.ones(len(batch), dtype=bool)
    for column, value in segment.items():
        mask &= (batch[column].astype(str) == str(value)).to_numpy()
    return mask


def _record_in_segment(record: dict, segment: dict[str, str]) -> bool:
    return all(str(record.get(c)) == str(v) for c, v in segment.items())


def apply_feature_faults(batch: pd.DataFrame, scenario: Scenario, reference_std: dict[str, float],
                         rng: np.random.Generator, schema: TableSchema) -> pd.DataFrame:
    """Covariate drift on the features (validation faults are applied later, on the JSON records)."""
    out = batch.copy()
    for fault in scenario.faults:
        if not isinstance(fault, CovariateDrift):
            continue
        rows = in_segment(batch, fault.segment)  # the segment as the customers were, before any drift
        for name in fault.features:
            col = schema.column(name)
            if col.kind == "categorical":
                for value, share in fault.category_share.items():
                    out.loc[rows & (rng.random(len(out)) < share), name] = value
                continue
            values = out[name].astype("float64") * fault.scale + fault.shift_std * reference_std.get(name, 0.0)
            values = values.clip(col.low, col.high)
            values = values.round() if col.kind == "integer" else values.round(2)
            out[name] = values.where(rows, out[name].astype("float64"))
    return out


def relabel(batch: pd.DataFrame, scenario: Scenario, rng: np.random.Generator,
            schema: TableSchema) -> np.ndarray:
    """The labels that will arrive later; concept drift draws a share of them from a new relation."""
    y = schema.labels_to_int(batch[schema.label]).to_numpy().copy()
    for fault in scenario.faults:
        if isinstance(fault, ConceptDrift):
            new = _new_relation(batch, fault, schema)
            take = (rng.random(len(y)) < fault.strength) & in_segment(batch, fault.segment)
            y = np.where(take, new, y)
    return y


def _new_relation(batch: pd.DataFrame, fault: ConceptDrift, schema: TableSchema) -> np.ndarray:
    """The labels of the new relation: positive where ``fault.feature`` equals ``fault.value`` (a category),
    or is above it (a number; default the batch median). Unset feature: the first categorical column."""
    name = fault.feature or next((c.name for c in schema.columns if c.kind == "categorical"), schema.feature_names[0])
    col = schema.column(name)
    values = batch[name]
    if col.kind == "categorical":
        value = fault.value if fault.value is not None else col.categories[0]
        return (values.astype(str) == str(value)).to_numpy().astype(np.int64)
    cut = float(fault.value) if fault.value is not None else float(values.astype("float64").median())
    return (values.astype("float64") > cut).to_numpy().astype(np.int64)


def to_records(batch: pd.DataFrame, scenario: Scenario | None, active: bool, rng: np.random.Generator,
               schema: TableSchema) -> list[dict]:
    """JSON-ready records, with null storms and schema breaks applied when active."""
    cols = schema.feature_names + ([schema.id_column] if schema.id_column else [])
    records = batch[cols].to_dict(orient="records")
    for r in records:
        for k, v in r.items():
            if isinstance(v, float) and math.isnan(v):
                r[k] = None
            elif isinstance(v, np.generic):
                r[k] = v.item()
    if not (active and scenario):
        return records
    for fault in scenario.faults:
        if isinstance(fault, NullStorm):
            for r in records:
                if rng.random() < fault.rate and _record_in_segment(r, fault.segment):
                    for name in fault.features:
                        r[name] = None
        elif isinstance(fault, Corruption):
            corrupt(records, fault, rng, schema)
        elif isinstance(fault, SchemaBreak):
            for r in records:
                for old, new in fault.rename.items():
                    r[new] = r.pop(old)
                for name in fault.stringify:
                    r[name] = f"{r[name]} (n/a)"
    return records


def corrupt(records: list[dict], fault: Corruption, rng: np.random.Generator, schema: TableSchema) -> None:
    """Write the fault's wrong values into a share of the records, in place (a broken feed, not the customers)."""
    stuck: dict[str, float] = {}
    for r in records:
        if not (rng.random() < fault.share and _record_in_segment(r, fault.segment)):
            continue
        for name in fault.features:
            col, value = schema.column(name), r.get(name)
            if value is None:
                continue
            if fault.mode == "zeros":
                new = 0.0
            elif fault.mode == "stuck":
                new = stuck.setdefault(name, fault.value if fault.value is not None else float(value))
            else:
                new = max(float(value), (col.low or 0.0) + 1.0) * fault.factor
                new = min(new, col.high) if col.high is not None else new
            r[name] = int(round(new)) if col.kind == "integer" else round(float(new), 2)
