"""The preprocessing transform on a list of records, in numpy alone: the scoring service's path.

``Preprocessor.transform`` works on a DataFrame and costs some 50 pandas operations whatever the row count; for
the handful of records a scoring request brings, that overhead is nearly all of a request's CPU (about 15 ms for
one record against 1.5 ms for the network itself). This module computes the same features from the records'
values directly. It is a second implementation of the same arithmetic, so it is held to the first one:
``tests/ml_core/test_features_records.py`` asserts the two give identical float32 features on the whole churn and
credit tables and on records with nulls and unknown categories. A feature set without an array version here
makes ``transform_records`` return None and the caller takes the DataFrame path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ml_core.features import CALLS, CHARGES, MINUTES, Preprocessor, piecewise_linear

Columns = dict[str, np.ndarray]


def _sum(cols: Columns, names: Sequence[str]) -> np.ndarray:
    total = cols[names[0]].copy()
    for name in names[1:]:  # left to right, as DataFrame.sum(axis=1) adds the columns
        total += cols[name]
    return total


def churn_engineered_arrays(cols: Columns) -> Columns:
    """``features.churn_engineered`` on arrays (same formulas, same order of additions)."""
    intl_plan = (cols["international_plan"] == "yes").astype(np.float64)
    vmail_plan = (cols["voice_mail_plan"] == "yes").astype(np.float64)
    cs = cols["number_customer_service_calls"].astype(np.float64)
    total_charge = _sum(cols, CHARGES)
    day = cols["total_day_minutes"]
    out = {
        "total_charge": total_charge,
        "total_minutes": _sum(cols, MINUTES),
        "total_calls": _sum(cols, CALLS),
        "cs_calls_high": (cs >= 4).astype(np.float64),
        "cs_x_low_charge": ((cs >= 4) & (day < 160)).astype(np.float64),
        "high_charge": (total_charge > 72).astype(np.float64),
        "intl_plan_x_minutes": intl_plan * cols["total_intl_minutes"],
        "intl_plan_x_calls_low": intl_plan * (cols["total_intl_calls"] < 3),
        "intl_plan_x_minutes_high": intl_plan * (cols["total_intl_minutes"] > 13),
        "no_vmail_x_day_minutes": (1 - vmail_plan) * day,
    }
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


ENGINEERED_ARRAYS: dict[str, Callable[[Columns], Columns]] = {"churn": churn_engineered_arrays}


def _numeric_columns(pre: Preprocessor, records: Sequence[Mapping[str, Any]]) -> Columns | None:
    """``Preprocessor._numeric_frame`` then ``_log_scaled``, as a column -> values mapping."""
    make = ENGINEERED_ARRAYS.get(pre.feature_set)
    if make is None and pre.feature_set != "plain":
        return None
    cols: Columns = {}
    for c in pre.raw_numeric:
        # None becomes NaN, as in the DataFrame; a validated record holds numbers or None here.
        values = np.array([r.get(c) for r in records], dtype=np.float64)
        if c in pre.medians:
            missing = np.isnan(values)
            cols[f"{c}#null"] = missing.astype(np.float64)
            values = np.where(missing, pre.medians[c], values)
        cols[c] = values
    if make is not None:
        raw = {c: cols[c] for c in pre.raw_numeric}
        others = {k for r in records for k in r} - set(pre.raw_numeric)
        raw.update({k: np.array([r.get(k) for r in records], dtype=object) for k in others})
        cols.update(make(raw))
    for c in pre.log_columns:  # clipped at 0, as the DataFrame path does
        cols[c] = np.log1p(np.clip(cols[c], 0.0, None))
    return cols


def transform_records(pre: Preprocessor, records: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    """``pre.transform(DataFrame(records))`` without the DataFrame, or None when this feature set has no array
    version (the caller then builds the DataFrame)."""
    cols = _numeric_columns(pre, records)
    if cols is None:
        return None
    n = len(records)
    num = np.column_stack([cols[c] for c in pre.numeric]) if pre.numeric else np.zeros((n, 0))
    blocks = [((num - np.asarray(pre.mean)) / np.asarray(pre.std)).astype(np.float32)]
    for col, edges in pre.bin_edges.items():
        blocks.append(piecewise_linear(cols[col], edges).astype(np.float32))
    for col, vals in pre.categories.items():
        index: dict[Any, int] = {v: i for i, v in enumerate(vals)}
        codes = np.array([index.get(r.get(col), -1) for r in records], dtype=np.int64)
        onehot = np.zeros((n, len(vals)), dtype=np.float32)
        known = codes >= 0
        onehot[np.nonzero(known)[0], codes[known]] = 1.0  # an unknown category or a null: an all-zero row
        blocks.append(onehot)
    return np.concatenate(blocks, axis=1)
