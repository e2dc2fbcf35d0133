"""The Open Inference Protocol v2 (KServe v2) REST shapes, and the translation between tensors and records.

A v2 request carries one tensor per feature column (shape ``[n]`` or ``[n, 1]``): BYTES for categoricals,
INT64 for integer columns, FP64 for the other numerics (any numeric datatype is accepted for a numeric
column). The id column may come as one more BYTES/INT64 tensor. The tensors become the batch ``/predict``
takes, kept as columns (``contract.Columns``: a batch valid as a whole is checked column by column), so validation,
routing, fallback and the prediction log are the one code path. Tensor data comes as JSON or, as tritonclient sends
by default, in Triton's binary tensor extension (``Inference-Header-Content-Length``); answers are always JSON,
which every v2 client reads.

Outputs, one row per input row: ``probability`` (FP64, null where the record was refused), ``label``
(INT64, -1 where refused) and ``error`` (BYTES, empty where scored, else the record's field errors).
The answering version is the response's ``model_version`` and ``parameters.version``; role, fallback and
counts are in ``parameters`` too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ml_core.data.schema import TableSchema
from ml_core.serving.contract import Columns, FieldError, RequestRejected
from ml_core.serving.decision import ScoredBatch

Parameters = dict[str, str | int | float | bool]  # the protocol's $parameters: scalar values only
NUMERIC = {"FP64": "<f8", "FP32": "<f4", "FP16": "<f2", "INT64": "<i8", "INT32": "<i4", "INT16": "<i2",
           "INT8": "<i1", "UINT64": "<u8", "UINT32": "<u4", "UINT16": "<u2", "UINT8": "<u1"}
OUTPUTS = (("probability", "FP64"), ("label", "INT64"), ("error", "BYTES"))


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(description="the versions this service holds (champion, canary, previous)")
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class V2Error(BaseModel):
    error: str
    errors: list[dict[str, Any]] | None = Field(None, description="per-record field errors, when that is why")


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any] | None = Field(None, description="row-major values; absent when sent as binary data")


class RequestOutput(BaseModel):
    name: str
    parameters: Parameters | None = None


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: Parameters | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    parameters: Parameters
    outputs: list[ResponseOutput]


@dataclass(slots=True)
class Tensor:
    """One input tensor as the request sent it (``data`` None when it came as binary data): what ``v2_parse``
    reads an ``InferenceRequest`` into, whichever way it read it."""

    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None
    data: list[Any] | None


@dataclass(slots=True)
class Request:
    id: str | None
    inputs: list[Tensor]
    outputs: list[str] | None  # the output names asked for; None (or empty) for all


def _bad(message: str, field: str | None = None, problem: str = "bad_body", rows: int = 0) -> RequestRejected:
    return RequestRejected(400, message, [FieldError(None, field, problem, message)], rows=rows)


def model_metadata(schema: TableSchema, name: str, versions: list[str], platform: str) -> ModelMetadata:
    """The tensors a v2 client sends (one per feature column) and gets back."""
    kinds = {"categorical": "BYTES", "integer": "INT64", "numeric": "FP64"}
    inputs = [MetadataTensor(name=c.name, datatype=kinds[c.kind], shape=[-1]) for c in schema.columns]
    outputs = [MetadataTensor(name=n, datatype=t, shape=[-1]) for n, t in OUTPUTS]
    return ModelMetadata(name=name, versions=versions, platform=platform, inputs=inputs, outputs=outputs)


def _flatten(values: list[Any]) -> list[Any]:
    """Row-major values of a nested list (iterative: a deeply nested body must not exhaust the stack)."""
    if list not in map(type, values):  # the usual [n]-shaped tensor (JSON lists are exact lists); C-speed scan
        return values
    out: list[Any] = []
    stack = [iter(values)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()
    return out


def _decode_binary(t: Tensor, raw: bytes) -> list[Any]:
    if t.datatype == "BYTES":
        out, pos = [], 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise _bad(f"input '{t.name}': truncated BYTES element", t.name)
            (size,) = struct.unpack_from("<I", raw, pos)
            out.append(raw[pos + 4:pos + 4 + size].decode("utf-8", errors="replace"))
            pos += 4 + size
        return out
    if t.datatype not in NUMERIC or len(raw) % np.dtype(NUMERIC[t.datatype]).itemsize:
        raise _bad(f"input '{t.name}': {len(raw)} binary bytes do not hold {t.datatype} values", t.name)
    return np.frombuffer(raw, dtype=NUMERIC[t.datatype]).tolist()


def _tensor_values(t: Tensor, binary: bytes, offset: int) -> tuple[list[Any], int]:
    """The tensor's values (flat) and the offset of the next binary tensor."""
    size = t.parameters.get("binary_data_size") if t.parameters else None
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise _bad(f"input '{t.name}': binary_data_size {size!r} runs past the {len(binary)} bytes sent", t.name)
        return _decode_binary(t, binary[offset:offset + size]), offset + size
    if t.data is None:
        raise _bad(f"input '{t.name}' has neither data nor binary_data_size", t.name)
    return _flatten(t.data), offset


def _may_hold_nan(values: list[Any]) -> bool:
    """False when no value is NaN, told by one C-speed ``sum`` (NaN propagates through it) rather than a Python
    test per value; True when the sum is NaN (a NaN, or infinities of both signs) or cannot be taken (a null, a
    string: validation judges those)."""
    try:
        total = sum(values)
    except TypeError:
        return True
    return total != total


def _check_column(t: Tensor, kind: str, n_values: int) -> None:
    """A tensor for a ``kind`` column: the right datatype, one column, as many values as its shape says."""
    if kind == "categorical" and t.datatype != "BYTES":
        raise _bad(f"input '{t.name}' is categorical: send datatype BYTES, not {t.datatype}", t.name, "wrong_type")
    if kind in ("integer", "numeric") and t.datatype not in NUMERIC:
        raise _bad(f"input '{t.name}' is numeric: send FP64 or INT64, not {t.datatype}", t.name, "wrong_type")
    shape = t.shape
    if not shape or len(shape) > 2 or shape[0] < 0 or (len(shape) == 2 and shape[1] != 1):
        raise _bad(f"input '{t.name}' has shape {shape}; send one column per feature, shape [n] or [n, 1]", t.name)
    if shape[0] != n_values:
        raise _bad(f"input '{t.name}' has shape {shape} but {n_values} values", t.name)


_KINDS: dict[int, tuple[TableSchema, dict[str, str], list[str]]] = {}  # id(schema) -> it, kinds, required names


def _kinds(schema: TableSchema) -> tuple[dict[str, str], list[str]]:
    """Each input's kind (``"id"`` for the id column) and the required features of ``schema``, worked out once per
    schema (a frozen schema's hash walks all its columns, so it is keyed by identity and kept alive here)."""
    entry = _KINDS.get(id(schema))
    if entry is None or entry[0] is not schema:
        kinds: dict[str, str] = {c.name: c.kind for c in schema.columns}
        if schema.id_column:
            kinds.setdefault(schema.id_column, "id")
        entry = _KINDS[id(schema)] = (schema, kinds, [c.name for c in schema.columns if not c.nullable])
    return entry[1], entry[2]


def request_columns(req: Request, schema: TableSchema, binary: bytes = b"") -> Columns:
    """The batch the tensors of ``req`` describe, column by column (``Columns.body()`` is the same batch as
    ``/predict``'s records); ``RequestRejected`` (400) if they are not one column per feature with equal row
    counts."""
    kinds, required = _kinds(schema)
    columns: dict[str, list[Any]] = {}
    offset = 0
    for t in req.inputs:
        values, offset = _tensor_values(t, binary, offset)
        kind = kinds.get(t.name)
        if kind is None:  # other tensors are ignored, as /predict ignores unknown fields
            continue
        _check_column(t, kind, len(values))
        if kind != "categorical" and t.datatype.startswith("FP") and _may_hold_nan(values):
            values = [None if v != v else v for v in values]  # NaN (v != v) is a float tensor's null
        columns[t.name] = values
    missing = [name for name in required if name not in columns]
    if missing:
        raise _bad(f"missing input tensor(s) {', '.join(missing)}: send one per feature column "
                   "(GET /v2/models/<model> lists them)", missing[0], "missing")
    rows = set(map(len, columns.values()))
    if len(rows) != 1 or 0 in rows:
        raise _bad(f"input tensors must have the same, non-zero row count; got {sorted(rows)}")
    return Columns(columns, rows.pop())


def _error_texts(s: ScoredBatch) -> list[str]:
    texts = [""] * s.batch.total
    for e in s.batch.errors:
        if e.index is not None:
            part = f"{e.field}: {e.problem}" + (f" ({e.detail})" if e.detail else "")
            texts[e.index] = f"{texts[e.index]}; {part}" if texts[e.index] else part
    return texts


def output_names(req: Request) -> list[str]:
    """The outputs asked for (all when none is named); ``RequestRejected`` (400) for an unknown one."""
    names = req.outputs or [n for n, _ in OUTPUTS]
    unknown = [x for x in names if x not in dict(OUTPUTS)]
    if unknown:
        raise _bad(f"unknown output(s) {', '.join(unknown)}; this model has {', '.join(n for n, _ in OUTPUTS)}")
    return names


def infer_response(s: ScoredBatch, model_name: str, request_id: str | None, names: list[str]) -> dict[str, Any]:
    """The v2 response body: outputs aligned with the request's rows, refused rows null/-1 with their errors."""
    n = s.batch.total
    prob: list[float | None] = [None] * n
    label = [-1] * n
    for i, p, y in zip(s.batch.indices, s.scores, s.labels, strict=True):
        prob[i], label[i] = p, y
    data = {"probability": prob, "label": label, "error": _error_texts(s)}
    d = s.decision
    params: Parameters = {"request_id": s.request_id, "version": d.version, "role": d.role,
                          "fallback": d.fallback_reason is not None,
                          "accepted": len(s.scores), "rejected": s.batch.rejected}
    if d.fallback_reason:
        params["fallback_reason"] = d.fallback_reason
    types = dict(OUTPUTS)
    return {"model_name": model_name, "model_version": d.version, "id": request_id or s.request_id,
            "parameters": params,
            "outputs": [{"name": x, "datatype": types[x], "shape": [n], "data": data[x]} for x in names]}
