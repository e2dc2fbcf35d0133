"""The Open Inference Protocol v2 REST endpoints beside ``/predict``, on the same ``ScoringService``.

``infer`` turns the tensors into the batch ``/predict`` takes (as columns) and calls ``ScoringService.score``, so
validation, routing (champion/canary), fallback and the prediction log are shared. Errors have the
protocol's shape ``{"error": "..."}`` (plus ``errors``, the per-record field errors, when that is why);
health and readiness answer 200 for true and 400 for false, as the protocol says.
"""

from __future__ import annotations

import re
import time
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ml_core.adopted import AdoptedModel
from ml_core.data.schema import TableSchema
from ml_core.serving.contract import MAX_BODY_BYTES, Columns, FieldError, RequestRejected
from ml_core.serving.raw_route import scoring_route
from ml_core.serving.service import ScoringService
from ml_core.serving.v2_decoded import RequestDecoder
from ml_core.serving.v2_fast import plain_request
from ml_core.serving.v2_parse import load_header, read_header, split_body
from ml_core.serving.v2_protocol import (
    InferenceResponse,
    ModelMetadata,
    ServerMetadata,
    V2Error,
    infer_response,
    model_metadata,
    output_names,
    request_columns,
)

BINARY_HEADER = "inference-header-content-length"  # Triton's binary tensor extension (tritonclient's default)
ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": V2Error}, 404: {"model": V2Error},
                                           413: {"model": V2Error}}
INFER_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}}}}}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def read_request(raw: bytes, header_length: str | None, schema: TableSchema) -> tuple[str | None, list[str], Columns]:
    """An inference request's id, the outputs it asks for and its batch; ``RequestRejected`` when it is not one
    this model can score. A plain JSON request is read in one pass (``v2_fast``), any other the general way."""
    header, binary = split_body(raw, header_length)
    loaded = load_header(header)  # once, for both readers
    if header_length is None and (plain := plain_request(loaded, schema)) is not None:
        return plain
    req = read_header(header, loaded)
    return req.id, output_names(req), request_columns(req, schema, binary)


def _error(rej: RequestRejected) -> Response:
    per_record = [e.to_dict() for e in rej.errors if e.index is not None][:200]
    body: dict[str, Any] = {"error": rej.message}
    if per_record:
        body["errors"] = per_record
    return _json(body, 413 if rej.status == 413 else 400)


def _server_version() -> str:
    try:
        return package_version("opsagent")
    except PackageNotFoundError:
        return "dev"


class V2Handlers:
    """The v2 model endpoints for one ``ScoringService``; ``version`` None means the routed version."""

    def __init__(self, service: ScoringService):
        self.service = service
        self.name = service.model_name
        self.decoder = RequestDecoder(service.schema, service.validator.max_records)

    def unknown(self, model: str, version: str | None) -> Response | None:
        """A 404 for a model this service does not serve or a version its routing does not hold."""
        if model != self.name:
            return _json({"error": f"model '{model}' is not served here; this service serves '{self.name}'"}, 404)
        served = self.service.state.versions() if self.service.state else []
        if version is not None and version not in served:
            return _json({"error": f"version {version} of '{self.name}' is not served; served: "
                                   f"{', '.join(served) or 'none'}"}, 404)
        return None

    async def metadata(self, model: str, version: str | None) -> Response:
        if (refused := self.unknown(model, version)) is not None:
            return refused
        st, loaded = self.service.state, self.service.versions
        champion = loaded.get(st.champion or "") if st else None
        platform = "" if champion is None else (
            "mlflow_pyfunc" if isinstance(champion.model, AdoptedModel) else "pytorch")
        versions = [version] if version else sorted(loaded)
        return _json(model_metadata(self.service.schema, self.name, versions, platform).model_dump())

    async def model_ready(self, model: str, version: str | None) -> Response:
        if (refused := self.unknown(model, version)) is not None:
            return refused
        ok = self.service.status().ready if version is None else version in self.service.versions
        return _json({"name": self.name, "ready": ok}, 200 if ok else 400)

    async def infer(self, request: Request, model: str, version: str | None) -> Response:
        t0 = time.perf_counter()
        if (refused := self.unknown(model, version)) is not None:
            return refused
        service = self.service
        try:
            size = int(request.headers.get("content-length") or 0)
            if size > MAX_BODY_BYTES:
                raise RequestRejected(413, f"body of {size} bytes exceeds {MAX_BODY_BYTES}; send smaller batches",
                                      [FieldError(None, None, "batch_too_large", f"{size} bytes")])
            raw, binary = await request.body(), request.headers.get(BINARY_HEADER)
            # The plain request of only valid records is read and checked in one pass (``v2_decoded``); any other
            # is read the general way and judged record by record in the service, which tells what is wrong.
            decoded = self.decoder.read(raw) if binary is None else None
            rid, names, body = decoded or read_request(raw, binary, service.schema)
        except RequestRejected as rej:
            service.reject(service.request_ids.next(), rej)  # refused before scoring: logged as /predict logs them
            return _error(rej)
        try:
            scored = await service.score(body, t0, version=version)
        except RequestRejected as rej:  # every record invalid, or too many: already logged by the service
            return _error(rej)
        return _json(infer_response(scored, self.name, rid, names))


def add_v2_routes(app: FastAPI, service: ScoringService) -> None:
    """Mount ``/v2/...`` (health, server and model metadata, readiness, infer) for ``service``'s model."""
    _model_routes(app, V2Handlers(service))

    @app.get("/v2", response_model=ServerMetadata)
    async def server_metadata() -> Response:
        return _json({"name": "opsagent", "version": _server_version(), "extensions": []})

    @app.get("/v2/health/live", responses={200: {"description": "live"}})
    async def live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready", responses={200: {"description": "ready"}, 400: {"description": "not ready"}})
    async def ready() -> Response:
        st = service.status()
        return _json({"ready": st.ready, "reason": st.reason}, 200 if st.ready else 400)


def _model_routes(app: FastAPI, h: V2Handlers) -> None:
    """Each model endpoint twice: for the routed version and for a version named in the path; ``infer`` first.

    The served model's own ``infer`` path is also a route of its own, a plain Starlette one first of all
    (``raw_route``; ``post_infer`` describes it in OpenAPI): FastAPI parses and validates a path parameter per request
    through its dependency machinery, and tries the routes in order, ~25 µs of a 190 µs batch-1 request together,
    and its route machinery costs ~25 µs more. Any other name still reaches ``post_infer`` and its 404."""
    if re.fullmatch(r"[A-Za-z0-9._~-]+", h.name):  # a name that cannot be read as a path template
        async def post_served_infer(request: Request) -> Response:
            return await h.infer(request, h.name, None)

        scoring_route(app, f"/v2/models/{h.name}/infer", post_served_infer)

    @app.post("/v2/models/{model}/infer", response_model=InferenceResponse, responses=ERRORS,
              openapi_extra=INFER_BODY)
    async def post_infer(request: Request, model: str) -> Response:
        return await h.infer(request, model, None)

    @app.post("/v2/models/{model}/versions/{version}/infer", response_model=InferenceResponse, responses=ERRORS,
              openapi_extra=INFER_BODY)
    async def post_version_infer(request: Request, model: str, version: str) -> Response:
        return await h.infer(request, model, version)

    ready_doc: dict[int | str, dict[str, Any]] = {200: {"description": "ready"}, **ERRORS}

    @app.get("/v2/models/{model}", response_model=ModelMetadata, responses=ERRORS)
    async def get_metadata(model: str) -> Response:
        return await h.metadata(model, None)

    @app.get("/v2/models/{model}/versions/{version}", response_model=ModelMetadata, responses=ERRORS)
    async def get_version_metadata(model: str, version: str) -> Response:
        return await h.metadata(model, version)

    @app.get("/v2/models/{model}/ready", responses=ready_doc)
    async def get_ready(model: str) -> Response:
        return await h.model_ready(model, None)

    @app.get("/v2/models/{model}/versions/{version}/ready", responses=ready_doc)
    async def get_version_ready(model: str, version: str) -> Response:
        return await h.model_ready(model, version)
