"""Predictions and delayed labels of a model served elsewhere, validated against its spec and logged.

A model opsagent does not serve is watched from what its own serving system sends in: batches of predictions
(record id, timestamp, the spec's features, score, version, optional latency) and, later, labels (record id,
label, optional timestamp). Each record is checked on its own — the features by the scoring service's
``RecordValidator``, so an ingested record is accepted exactly when ``/predict`` would accept it — and:

- valid records are kept, invalid ones reported per record (row, field, problem) and logged as rejections,
  as the scoring service logs a refused request, so the data-quality checks see a broken feed;
- a batch lands in one transaction (``PredictionLog.write_batch``): nothing half-written;
- predictions land exactly like served ones (role ``champion``, the decision at ``threshold``), so triage,
  drift, performance and the label-free estimate read them unchanged. Rejected labels are reported only:
  the rejection log counts refused *inputs*, and a label is not one.

``row`` in an error is the record's 1-based position in the batch (the file's data row, the JSON list's item).

What the ingested traffic is compared with is the same reference a served model has (``ml_core.watch``): the
training rows saved with the model's registered champion (trained by opsagent, or adopted from the user's
MLflow), scored by that version; the spec's data is the fallback when a version saved no rows. A model with
no registered version at all cannot be checked yet: prediction drift and the label-free estimate need a model
to score the reference with.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from ml_core.ingest_read import Malformed
from ml_core.predlog import PredictionLog, PredictionRow, RejectionRow
from ml_core.registry import CHAMPION, Registry
from ml_core.serving.contract import RecordValidator, RequestRejected
from ml_core.spec.model_spec import ModelSpec

MAX_ERRORS_REPORTED = 200
FUTURE_SLACK_S = 24 * 3600  # a clock a little ahead is fine; a timestamp a day ahead is a bug upstream
TIMESTAMP_FIELDS = ("timestamp", "ts")


@dataclass(frozen=True)
class RecordError:
    row: int  # 1-based position of the record in the batch
    field: str | None
    problem: str  # malformed_json | bad_record | missing | null | wrong_type | out_of_range | unknown_category ...
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"row {self.row}: {self.field or 'record'}: {self.problem.replace('_', ' ')}" + (
            f" ({self.detail})" if self.detail else "")


@dataclass
class IngestResult:
    kind: Literal["predictions", "labels"]
    model: str
    total: int
    accepted: int
    batch_id: str
    errors: list[RecordError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return self.total - self.accepted

    def to_dict(self, max_errors: int = MAX_ERRORS_REPORTED) -> dict[str, Any]:
        return {"model": self.model, "kind": self.kind, "batch_id": self.batch_id, "total": self.total,
                "accepted": self.accepted, "rejected": self.rejected, "error_count": len(self.errors),
                "errors": [e.to_dict() for e in self.errors[:max_errors]]}


def record_id_field(spec: ModelSpec) -> str:
    """The field that carries the record id: the spec's id column, else ``record_id``."""
    return spec.id_column or "record_id"


def ingest_predictions(log: PredictionLog, spec: ModelSpec, records: Sequence[Any], *, threshold: float = 0.5,
                       now: float | None = None) -> IngestResult:
    """Validate and log a batch of predictions; ``threshold`` turns each score into the logged decision."""
    now = time.time() if now is None else now
    batch = f"ingest-{uuid.uuid4().hex[:12]}"
    validator = RecordValidator(spec.schema)
    rows: list[PredictionRow] = []
    errors: list[RecordError] = []
    refused: list[RejectionRow] = []
    for i, rec in enumerate(records, start=1):
        found: list[RecordError] = []
        row = _prediction(i, rec, spec, validator, threshold, now, batch, found)
        if row is not None and not found:
            rows.append(row)
            continue
        errors += found
        ts = _timestamp(rec.get("timestamp", rec.get("ts")), now) if isinstance(rec, dict) else None
        refused.append(RejectionRow(batch, ts if isinstance(ts, float) else now, spec.name, {
            "detail": f"ingested record {i} invalid; not logged", "error_count": len(found),
            "errors": [{"index": i - 1, "field": e.field, "problem": e.problem, "detail": e.detail} for e in found]},
            rows=1))
    log.write_batch(predictions=rows, rejections=refused)
    return IngestResult("predictions", spec.name, len(records), len(rows), batch, errors)


def ingest_labels(log: PredictionLog, spec: ModelSpec, records: Sequence[Any], *,
                  now: float | None = None) -> IngestResult:
    """Validate and store a batch of delayed labels (by record id; a later label replaces an earlier one)."""
    now = time.time() if now is None else now
    labels: list[tuple[str, int, float]] = []
    errors: list[RecordError] = []
    for i, rec in enumerate(records, start=1):
        found: list[RecordError] = []
        label = _label(i, rec, spec, now, found)
        if label is not None and not found:
            labels.append(label)
        errors += found
    log.write_batch(labels=labels)
    return IngestResult("labels", spec.name, len(records), len(labels), f"labels-{uuid.uuid4().hex[:12]}", errors)


# ---- one record -------------------------------------------------------------------------------------
def _not_a_record(i: int, rec: Any, errors: list[RecordError]) -> bool:
    if isinstance(rec, Malformed):
        errors.append(RecordError(i, None, "malformed_json", rec.detail))
    elif not isinstance(rec, dict):
        errors.append(RecordError(i, None, "bad_record", f"expected an object, got {type(rec).__name__}"))
    else:
        return False
    return True


def _prediction(i: int, rec: Any, spec: ModelSpec, validator: RecordValidator, threshold: float, now: float,
                batch: str, errors: list[RecordError]) -> PredictionRow | None:
    if _not_a_record(i, rec, errors):
        return None
    features = _features(i, rec, validator, errors)
    rid = _record_id(i, rec, spec, errors)
    ts = _required_timestamp(i, rec, now, errors)
    score = _number(i, rec, "score", errors, low=0.0, high=1.0, required=True)
    latency = _number(i, rec, "latency_ms", errors, low=0.0, high=None, required=False)
    version = _version(i, rec, errors)
    if features is None or rid is None or ts is None or score is None or version is None:
        return None
    return PredictionRow(batch, rid, ts, spec.name, version, "champion", None, None, score,
                         int(score >= threshold), latency if latency is not None else 0.0, features)


def _features(i: int, rec: dict[str, Any], validator: RecordValidator,
              errors: list[RecordError]) -> dict[str, Any] | None:
    """The spec's features, cleaned by the scoring service's own validator (one record at a time)."""
    try:
        clean, _ids = validator.parse({"records": [rec]})
    except RequestRejected as rej:
        errors += [RecordError(i, e.field, e.problem, e.detail) for e in rej.errors]
        return None
    return clean[0]


def _record_id(i: int, rec: dict[str, Any], spec: ModelSpec, errors: list[RecordError]) -> str | None:
    name = record_id_field(spec)
    value = rec.get(name, rec.get("record_id"))
    if value is None or value == "":
        errors.append(RecordError(i, name, "missing", "every record needs its id, to join its label later"))
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(RecordError(i, name, "wrong_type", f"expected a string id, got {type(value).__name__}"))
        return None
    return str(value)


def _required_timestamp(i: int, rec: dict[str, Any], now: float, errors: list[RecordError]) -> float | None:
    value = next((rec[k] for k in TIMESTAMP_FIELDS if rec.get(k) is not None), None)
    if value is None:
        errors.append(RecordError(i, "timestamp", "missing", "unix seconds or ISO 8601, e.g. 2024-05-01T12:00:00Z"))
        return None
    ts = _timestamp(value, now)
    if isinstance(ts, str):
        errors.append(RecordError(i, "timestamp", "bad_timestamp", ts))
        return None
    return ts


def _timestamp(value: Any, now: float) -> float | str | None:
    """Unix seconds from a number, numeric text or ISO 8601 text (naive means UTC); else why not, as text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return f"expected unix seconds or ISO 8601, got {value}"
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return f"{text!r} is neither unix seconds nor ISO 8601 (e.g. 2024-05-01T12:00:00Z)"
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return f"expected unix seconds or ISO 8601, got {value!r}"
    if value > 1e11:
        return f"{value:.0f} looks like milliseconds; send unix seconds"
    if value > now + FUTURE_SLACK_S:
        return f"{datetime.fromtimestamp(value, UTC):%Y-%m-%d %H:%M} UTC is in the future"
    return float(value)


def _number(i: int, rec: dict[str, Any], name: str, errors: list[RecordError], *, low: float,
            high: float | None, required: bool) -> float | None:
    value = rec.get(name)
    if value is None:
        if required:
            errors.append(RecordError(i, name, "missing", "required field"))
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors.append(RecordError(i, name, "wrong_type", f"expected a number, got {value!r}"))
        return None
    if value < low or (high is not None and value > high):
        span = f"{low:g}..{high:g}" if high is not None else f">= {low:g}"
        errors.append(RecordError(i, name, "out_of_range", f"{value} not in {span}"))
        return None
    return float(value)


def _version(i: int, rec: dict[str, Any], errors: list[RecordError]) -> str | None:
    value = rec.get("version")
    if value is None or value == "":
        errors.append(RecordError(i, "version", "missing", "the model version that made the prediction"))
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        errors.append(RecordError(i, "version", "wrong_type", f"expected a string, got {type(value).__name__}"))
        return None
    text = str(value).strip()
    # "v3" is how many serving systems name what the registry calls version 3: one name, so versions line up
    return text[1:] if text[:1] == "v" and text[1:].isdigit() else text


def _label(i: int, rec: Any, spec: ModelSpec, now: float, errors: list[RecordError]) -> tuple[str, int, float] | None:
    if _not_a_record(i, rec, errors):
        return None
    rid = _record_id(i, rec, spec, errors)
    y = _label_value(i, rec, spec, errors)
    value = next((rec[k] for k in TIMESTAMP_FIELDS if rec.get(k) is not None), None)
    ts = _timestamp(value, now) if value is not None else now
    if isinstance(ts, str):
        errors.append(RecordError(i, "timestamp", "bad_timestamp", ts))
        return None
    if rid is None or y is None or ts is None:
        return None
    return rid, y, ts


def _label_value(i: int, rec: dict[str, Any], spec: ModelSpec, errors: list[RecordError]) -> int | None:
    """1 for the spec's positive class, 0 for the negative one; 0/1 themselves are accepted too."""
    value = rec.get("label", rec.get(spec.label.column))
    if value is None:
        errors.append(RecordError(i, "label", "missing", f"{spec.label.positive!r} or "
                                                         f"{spec.label.negative or 'another value'!r}, or 1/0"))
        return None
    text = str(value).strip() if not isinstance(value, bool) else ""
    if text == spec.label.positive:
        return 1
    if spec.label.negative is not None and text == spec.label.negative:
        return 0
    if isinstance(value, int | str) and not isinstance(value, bool) and text in ("0", "1"):
        return int(text)
    if spec.label.negative is None and isinstance(value, str) and text:
        return 0  # one-vs-rest: every value but the positive class is negative
    allowed = f"{spec.label.positive}, {spec.label.negative}, 1 or 0" if spec.label.negative else "a value"
    errors.append(RecordError(i, "label", "unknown_label", f"{value!r}; allowed: {allowed}"))
    return None


# (tracking URI, model, version) -> threshold. A registered version never changes (a new threshold is a new
# version), so each is loaded once per process, not on every ingested batch.
_THRESHOLDS: dict[tuple[str, str, str], float] = {}


def decision_threshold(registry: Registry, model: str) -> float:
    """The threshold that turns an ingested score into a decision: the registered champion's, else 0.5."""
    champion = registry.alias(model, CHAMPION) if model in registry.models() else None
    if champion is None:
        return 0.5
    key = (registry.tracking_uri, model, champion.version)
    if key not in _THRESHOLDS:
        try:
            _THRESHOLDS[key] = float(registry.load(model, champion.version).threshold)
        except Exception:  # an adopted or foreign artifact without opsagent's bundle: the conventional cut-off
            return 0.5
    return _THRESHOLDS[key]
