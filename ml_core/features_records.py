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

from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

import numpy as np

from ml_core.features import CALLS, CHARGES, MINUTES, Preprocessor

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
# The columns besides the raw numbers that each reads, as given (object arrays): only these are built for it,
# where gathering every other column of every record (a set of all their keys, an array per column) cost as much
# as its arithmetic. A feature set missing here is given every column, as before.
ENGINEERED_INPUTS: dict[str, tuple[str, ...]] = {"churn": ("international_plan", "voice_mail_plan")}


class RecordsPlan:
    """``transform_records`` for one preprocessor, with what does not depend on the records worked out once.

    The first version made some 100 numpy calls per scoring call whatever its row count (about 300 µs for one
    record): a matrix of the raw numbers per column, and for each of the ~20 binned columns its own
    ``piecewise_linear`` (a ``diff``, a division, a ``clip``). Here the raw numbers are read in one call, the bins
    of every column are one broadcast division and one ``clip`` over a matrix of the source columns repeated once
    per bin, and the one-hot blocks one fancy assignment. The arithmetic per element is the same, so the features
    stay equal to the bit (``tests/ml_core/test_features_records.py``)."""

    def __init__(self, pre: Preprocessor, make: Callable[[Columns], Columns] | None):
        self.pre = pre
        self.make = make
        self.inputs = ENGINEERED_INPUTS.get(pre.feature_set)
        self.raw = list(pre.raw_numeric)
        self.raw_names = frozenset(self.raw)
        # a tuple of the raw numbers of one record, in C (``itemgetter`` of one name returns the bare value)
        self.raw_of = itemgetter(*self.raw) if len(self.raw) > 1 else (lambda r: (r[self.raw[0]],))
        self.nulls = [(self.raw.index(c), f"{c}#null", med) for c, med in pre.medians.items()]
        self.mean, self.std = np.asarray(pre.mean), np.asarray(pre.std)
        at = {c: i for i, c in enumerate(pre.numeric)}
        # where ``numeric``'s columns sit in the matrix: the raw ones (a slice when they lead, as they do), the rest
        raw_at = [at[c] for c in self.raw]
        self.raw_at: slice | np.ndarray = (slice(0, len(raw_at)) if raw_at == list(range(len(raw_at)))
                                           else np.array(raw_at, dtype=np.intp))
        self.other_at = [(c, j) for c, j in at.items() if c not in self.raw_names]
        self.logged = np.array([at[c] for c in pre.log_columns], dtype=np.intp)
        self.bin_source = np.array([at[c] for c, e in pre.bin_edges.items() for _ in e[:-1]], dtype=np.intp)
        self.bin_low = np.array([x for e in pre.bin_edges.values() for x in e[:-1]], dtype=np.float64)
        # piecewise_linear's np.diff(edges), column by column
        self.bin_width = np.concatenate([np.diff(np.asarray(e)) for e in pre.bin_edges.values()]) \
            if pre.bin_edges else np.zeros(0)
        self.onehot: list[tuple[str, dict[Any, int]]] = []
        offset = 0
        for col, vals in pre.categories.items():
            self.onehot.append((col, {v: offset + i for i, v in enumerate(vals)}))
            offset += len(vals)
        self.n_onehot = offset

    def numeric(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``Preprocessor._numeric_frame`` then ``_log_scaled``, as a (rows, ``pre.numeric``) float64 matrix."""
        raw = self.raw
        values = self._raw_values(records)
        cols: Columns = {}
        for j, name, median in self.nulls:
            missing = np.isnan(values[:, j])
            cols[name] = missing.astype(np.float64)
            values[:, j] = np.where(missing, median, values[:, j])
        if self.make is not None:
            given = {c: values[:, j] for j, c in enumerate(raw)}
            given.update(cols)
            if self.inputs is None:
                others: Iterable[str] = set().union(*records) - self.raw_names
            else:  # those it reads that some record holds, as the union of all keys would have given them
                others = [k for k in self.inputs if k not in self.raw_names and any(k in r for r in records)]
            given.update({k: np.array(_column(records, k), dtype=object) for k in others})
            cols.update(self.make(given))
        # the raw block in one assignment, then the other columns (a column_stack of them all cost twice as much)
        num = np.empty((len(records), len(self.pre.numeric)))
        num[:, self.raw_at] = values
        for c, j in self.other_at:
            num[:, j] = cols[c]
        if len(self.logged):  # clipped at 0, as the DataFrame path does
            num[:, self.logged] = np.log1p(np.clip(num[:, self.logged], 0.0, None))
        return num

    def _raw_values(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The raw numbers as a (rows, ``raw``) float64 matrix, None as NaN (as in the DataFrame).

        A validated record holds every raw column, as a number or None: the values of all records are read in
        C (``itemgetter``, ``fromiter``), half the cost of a nested list through ``np.array``; a None (which
        ``fromiter`` refuses) or an absent key takes the nested list, which reads them as NaN."""
        n, k = len(records), len(self.raw)
        if k:
            try:
                return np.fromiter(chain.from_iterable(map(self.raw_of, records)), dtype=np.float64,
                                   count=n * k).reshape(n, k)
            except (KeyError, TypeError):
                pass
        return np.array([[r.get(c) for c in self.raw] for r in records], dtype=np.float64).reshape(n, k)

    def transform(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """``pre.transform(DataFrame(records))``."""
        n = len(records)
        num = self.numeric(records)
        standard = ((num - self.mean) / self.std).astype(np.float32)
        bins = np.clip((num[:, self.bin_source] - self.bin_low) / self.bin_width, 0.0, 1.0).astype(np.float32)
        onehot = np.zeros((n, self.n_onehot), dtype=np.float32)
        if self.onehot:
            # the one-hot position of every (column, record), -1 for an unknown category or a null (an all-zero
            # block), looked up in C and set in one fancy assignment
            codes = np.fromiter(chain.from_iterable(map(index.get, _column(records, col), repeat(-1))
                                                    for col, index in self.onehot),
                                dtype=np.intp, count=n * len(self.onehot)).reshape(len(self.onehot), n)
            hot = codes >= 0
            onehot[hot.nonzero()[1], codes[hot]] = 1.0
        return np.concatenate([standard, bins, onehot], axis=1)


def _column(records: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    """The values of ``name`` in each record, None where it is absent (read in C when no record lacks it)."""
    try:
        return list(map(itemgetter(name), records))
    except KeyError:
        return [r.get(name) for r in records]


def records_plan(pre: Preprocessor) -> RecordsPlan | None:
    """The plan for ``pre``, or None when its feature set has no array version (the caller then builds the
    DataFrame). Build it once per preprocessor that stays as it is (a loaded model's)."""
    make = ENGINEERED_ARRAYS.get(pre.feature_set)
    if make is None and pre.feature_set != "plain":
        return None
    return RecordsPlan(pre, make)


def transform_records(pre: Preprocessor, records: Sequence[Mapping[str, Any]]) -> np.ndarray | None:
    """``pre.transform(DataFrame(records))`` without the DataFrame, or None when this feature set has no array
    version (the caller then builds the DataFrame)."""
    plan = records_plan(pre)
    return None if plan is None else plan.transform(records)
