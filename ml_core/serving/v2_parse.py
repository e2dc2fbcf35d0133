"""Reading a v2 inference request: orjson and a hand-written shape check for a well-formed request, pydantic for
any other.

``InferenceRequest.model_validate_json`` cost ~30-40 µs a request and building its 20 sub-models as much again,
a tenth of what a whole v2 request costs the service at batch 1. A request every field of which already has the
exact JSON type the model declares (strings, integer shapes, lists, scalar parameters) is read here into plain
slotted objects. Anything else, from malformed JSON to a shape sent as ``"2"`` (which pydantic's lax mode reads as
2), goes through pydantic as before, so what is accepted, how it is read and every error message stay pydantic's:
the fast path only ever says yes to bodies pydantic would have read the same way.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from ml_core.serving.contract import FieldError, RequestRejected
from ml_core.serving.v2_protocol import InferenceRequest, Request, Tensor

SCALARS = (str, int, float, bool)  # the protocol's parameter values
INT = frozenset({int})  # a shape's dimensions (a bool is not one)


MALFORMED = object()  # ``load_header``'s answer for a header that is not JSON


def parse_request(raw: bytes, header_length: str | None) -> tuple[Request, bytes]:
    """The request in the JSON header and the binary tensor data after it (empty without the binary extension);
    ``RequestRejected`` (400) when it is not a v2 inference request."""
    header, binary = split_body(raw, header_length)
    return read_header(header, load_header(header)), binary


def split_body(raw: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary tensor data after it (all header without the binary extension)."""
    split = len(raw)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(raw):
            raise RequestRejected(400, f"Inference-Header-Content-Length {header_length!r} is not a length "
                                       f"within the {len(raw)}-byte body", [])
        split = int(header_length)
    return raw[:split], raw[split:]


def load_header(header: bytes) -> Any:
    """The header's JSON, or ``MALFORMED``."""
    try:
        return orjson.loads(header)
    except orjson.JSONDecodeError:
        return MALFORMED


def read_header(header: bytes, loaded: Any) -> Request:
    """The request ``header`` holds (``loaded``: its JSON, from ``load_header``); ``RequestRejected`` (400) when it
    is not a v2 inference request."""
    fast = _well_formed(loaded)
    return fast if fast is not None else _by_pydantic(header)


def _by_pydantic(header: bytes) -> Request:
    try:
        req = InferenceRequest.model_validate_json(header)
    except ValidationError as exc:
        what = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
        raise RequestRejected(400, f"not a v2 inference request: {what}",
                              [FieldError(None, None, "bad_body", what[:500])]) from None
    return Request(req.id, [Tensor(t.name, t.shape, t.datatype, t.parameters, t.data) for t in req.inputs],
                   [o.name for o in req.outputs] if req.outputs is not None else None)


def _params_ok(p: Any) -> bool:
    return p is None or (type(p) is dict and all(type(v) in SCALARS for v in p.values()))


def top_level(body: Any) -> tuple[str | None, list[Any], Any] | None:
    """The id, inputs and outputs of a request body whose id and parameters have exactly the declared types and
    whose inputs are a non-empty list; else None."""
    if type(body) is not dict:
        return None
    rid, inputs = body.get("id"), body.get("inputs")
    if not (rid is None or type(rid) is str) or not _params_ok(body.get("parameters")):
        return None
    if type(inputs) is not list or not inputs:
        return None
    return rid, inputs, body.get("outputs")


def _well_formed(body: Any) -> Request | None:
    """``body`` as a Request when every field has exactly the type ``InferenceRequest`` declares, else None."""
    top = top_level(body)
    if top is None:
        return None
    rid, inputs, outputs = top
    tensors = []
    for t in inputs:
        if type(t) is not dict:
            return None
        name, shape, datatype, params, data = (t.get("name"), t.get("shape"), t.get("datatype"), t.get("parameters"),
                                               t.get("data"))
        # exact types, as pydantic's strict reading of the model would take them; the shape's by one C-speed set
        if (type(name) is not str or type(shape) is not list or type(datatype) is not str
                or (params is not None and not _params_ok(params)) or not (data is None or type(data) is list)
                or not set(map(type, shape)) <= INT):
            return None
        tensors.append(Tensor(name, shape, datatype, params, data))
    names: list[str] | None = None
    if outputs is not None:
        names = output_list(outputs)
        if names is None:
            return None
    return Request(rid, tensors, names)


def output_list(outputs: Any) -> list[str] | None:
    """The names of a request's ``outputs`` when it is a list of objects of exactly the declared types, else None."""
    if type(outputs) is not list:
        return None
    names = []
    for o in outputs:
        if type(o) is not dict or type(o.get("name")) is not str or not _params_ok(o.get("parameters")):
            return None
        names.append(o["name"])
    return names
