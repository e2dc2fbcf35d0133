"""The /predict request contract: parse and validate records against the schema, in plain Python.

Per-record checks in pure Python cost microseconds, where building a DataFrame per request just to
validate it would cost a millisecond. Rules (the API's documented contract):

- body: ``{"records": [ {...}, ... ]}`` with 1..MAX_RECORDS records;
- every schema feature must be present and non-null; numbers must be JSON numbers (not strings,
  not booleans), integer columns whole numbers, within the schema range; categoricals one of the
  schema's categories;
- ``customer_id`` is optional (string or integer) and becomes the prediction's ``record_id``;
- unknown extra fields are ignored (clients may send their own context, e.g. a label), not echoed.

Any invalid record rejects the whole request (HTTP 422) with one error per (record, field).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from ml_core.data.schema import TableSchema

MAX_RECORDS = 1000
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_ERRORS_REPORTED = 200


@dataclass(frozen=True)
class FieldError:
    index: int | None  # record index in the batch; None for errors about the whole body
    field: str | None
    # malformed_json | bad_body | batch_too_large | missing | null | wrong_type | out_of_range | unknown_category
    problem: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestRejected(Exception):
    """A request the service will not score; carries the HTTP status and the error list."""

    def __init__(self, status: int, message: str, errors: list[FieldError], rows: int = 0):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.rows = rows

    def body(self) -> dict[str, Any]:
        shown = self.errors[:MAX_ERRORS_REPORTED]
        return {"detail": self.message, "error_count": len(self.errors), "errors": [e.to_dict() for e in shown]}


class RecordValidator:
    """Validates JSON records for one schema; returns cleaned feature dicts and record ids."""

    def __init__(self, schema: TableSchema, max_records: int = MAX_RECORDS):
        self.schema = schema
        self.max_records = max_records
        self.id_column = schema.id_column
        self._checks = [(c.name, c.kind, c.low, c.high, frozenset(c.categories), c.nullable) for c in schema.columns]
        self._allowed = {c.name: ", ".join(c.categories[:6]) + ("…" if len(c.categories) > 6 else "")
                         for c in schema.columns}

    def parse(self, body: Any) -> tuple[list[dict[str, Any]], list[str | None]]:
        if not isinstance(body, dict) or "records" not in body:
            raise RequestRejected(422, 'body must be a JSON object {"records": [ {...}, ... ]}',
                                  [FieldError(None, "records", "bad_body", "missing 'records'")])
        records = body["records"]
        if not isinstance(records, list) or not records:
            raise RequestRejected(422, "'records' must be a non-empty list of objects",
                                  [FieldError(None, "records", "bad_body", "not a non-empty list")])
        if len(records) > self.max_records:
            raise RequestRejected(413, f"batch of {len(records)} records exceeds the limit of "
                                       f"{self.max_records}; split it into smaller requests",
                                  [FieldError(None, "records", "batch_too_large", str(len(records)))],
                                  rows=len(records))
        errors: list[FieldError] = []
        clean: list[dict[str, Any]] = []
        ids: list[str | None] = []
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                errors.append(FieldError(i, None, "bad_body", "record is not a JSON object"))
                continue
            row, rid = self._record(i, rec, errors)
            clean.append(row)
            ids.append(rid)
        if errors:
            bad = len({e.index for e in errors})
            raise RequestRejected(422, f"{bad} of {len(records)} record(s) invalid; nothing was scored",
                                  errors, rows=len(records))
        return clean, ids

    def _record(self, i: int, rec: dict[str, Any], errors: list[FieldError]) -> tuple[dict[str, Any], str | None]:
        row: dict[str, Any] = {}
        for name, kind, low, high, cats, nullable in self._checks:
            if name not in rec and not nullable:
                errors.append(FieldError(i, name, "missing", "required field"))
                continue
            v = rec.get(name)
            if v is None:
                if not nullable:
                    errors.append(FieldError(i, name, "null", "value is null"))
            elif kind == "categorical":
                if not isinstance(v, str):
                    errors.append(FieldError(i, name, "wrong_type", f"expected a string, got {type(v).__name__}"))
                elif v not in cats:
                    errors.append(FieldError(i, name, "unknown_category", f"{v!r}; allowed: {self._allowed[name]}"))
            elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                errors.append(FieldError(i, name, "wrong_type", f"expected a number, got {type(v).__name__}"))
            elif kind == "integer" and isinstance(v, float) and not v.is_integer():
                errors.append(FieldError(i, name, "wrong_type", f"expected a whole number, got {v}"))
            elif (low is not None and v < low) or (high is not None and v > high):
                errors.append(FieldError(i, name, "out_of_range", f"{v} not in {low:g}..{high:g}"))
            row[name] = v
        rid = rec.get(self.id_column) if self.id_column else None
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, str | int)):
            errors.append(FieldError(i, self.id_column, "wrong_type", "expected a string id"))
            rid = None
        return row, (None if rid is None else str(rid))
