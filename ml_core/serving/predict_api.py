"""``/predict``'s request and response, described as pydantic models for OpenAPI, and the response builder.

The route still parses and validates the body itself (``contract.RecordValidator``): a pydantic request
model would refuse the whole batch for one bad field, where the contract scores the valid records and
lists the others. These models only *describe* the contract, so generated clients and fuzzers see it;
the request model is built from the model's spec (column kinds, ranges, categories).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ml_core.data.schema import Column, TableSchema
from ml_core.serving.contract import MAX_ERRORS_REPORTED, MAX_RECORDS
from ml_core.serving.decision import ScoredBatch

Problem = Literal["malformed_json", "bad_body", "batch_too_large", "missing", "null", "wrong_type", "out_of_range",
                  "unknown_category"]


class FieldErrorOut(BaseModel):
    """Why one record (or the whole body, ``index`` null) was refused."""

    index: int | None = Field(description="the record's position in ``records``; null for the whole body")
    field: str | None = Field(description="the field to blame; null when it is the record or body itself")
    problem: Problem
    detail: str = Field(description="what was wrong, for a person")
    record_id: str | None = Field(description="the record's id when it sent a usable one")


class PredictionOut(BaseModel):
    """The score of one valid record."""

    index: int = Field(description="the record's position in the request's ``records``")
    record_id: str | None = Field(description="the record's id, if it sent one")
    score: float = Field(description="probability of the positive class")
    label: int = Field(description="1 when score >= the answering version's threshold")
    version: str = Field(description="the version that answered, or 'baseline'/'prior' for the last fallbacks")
    role: str = Field(description="champion, canary, previous or fallback")
    fallback: bool = Field(description="true when the routed version could not answer")
    fallback_reason: str | None = Field(description="why it could not (timeout, error, not loaded)")


class PredictResponse(BaseModel):
    """Scores of the valid records; the others are listed in ``errors`` (one bad field costs one record)."""

    request_id: str = Field(description="key of this request in the prediction log")
    accepted: int = Field(description="records scored")
    rejected: int = Field(description="records refused")
    error_count: int = Field(description="field errors found (only the first 200 are listed)")
    errors: list[FieldErrorOut]
    predictions: list[PredictionOut]


class PredictError(BaseModel):
    """A request that scored nothing: the body was not a batch, too large, or every record was invalid."""

    detail: str
    error_count: int
    errors: list[FieldErrorOut]


def _column_type(c: Column) -> Any:
    if c.kind == "categorical":
        return Literal[c.categories]  # type: ignore[valid-type]  # the spec's categories, an enum in OpenAPI
    base = int if c.kind == "integer" else float
    return Annotated[base, Field(ge=c.low, le=c.high)]


def predict_request_model(schema: TableSchema) -> type[BaseModel]:
    """The ``{"records": [...]}`` body for ``schema``: one property per feature, plus the optional id."""
    fields: dict[str, Any] = {}
    for c in schema.columns:
        typ = _column_type(c)
        fields[c.name] = (typ | None, None) if c.nullable else (typ, ...)
    if schema.id_column:
        fields[schema.id_column] = (str | int | None, Field(None, description="becomes the prediction's record_id"))
    # Unknown extra fields are accepted and ignored (clients send their own context, e.g. a label).
    record = create_model("PredictRecord", __config__=ConfigDict(extra="allow"), **fields)
    return create_model("PredictRequest", records=(
        Annotated[list[record], Field(min_length=1, max_length=MAX_RECORDS)], ...))  # type: ignore[valid-type]


def predict_body(s: ScoredBatch) -> dict[str, Any]:
    """The ``/predict`` response body (``PredictResponse``) for one scored batch."""
    d, batch = s.decision, s.batch
    fb = d.fallback_reason is not None
    shown = batch.errors[:MAX_ERRORS_REPORTED]
    return {"request_id": s.request_id, "accepted": len(s.scores), "rejected": batch.rejected,
            "error_count": len(batch.errors), "errors": [e.to_dict() for e in shown], "predictions": [
                {"index": i, "record_id": rid, "score": p, "label": y, "version": d.version, "role": d.role,
                 "fallback": fb, "fallback_reason": d.fallback_reason}
                for i, rid, p, y in zip(batch.indices, batch.ids, s.scores, s.labels, strict=True)]}
