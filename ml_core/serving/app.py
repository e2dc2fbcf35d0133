"""The HTTP face of the scoring service (FastAPI on uvicorn).

/predict reads a body of only valid records in one pass in C (``contract_decoded``), and parses any other with
orjson and validates it with ``RecordValidator``, rather than through a pydantic request model: the contract
scores the valid records of a batch and returns per-record, per-field errors for the others (and a rejection log
entry), and 1,000-record batches validate faster this way. Its request and response are still described in
``/openapi.json`` (``predict_api``), as are the Open Inference Protocol v2 endpoints beside it (``v2_routes``).
Every other route is ordinary FastAPI.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import time
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ml_core.data.schema import TableSchema
from ml_core.paths import HomeLayout
from ml_core.serving.contract import MAX_BODY_BYTES, FieldError, RequestRejected
from ml_core.serving.heap import settle_heap
from ml_core.serving.predict_api import PredictError, PredictResponse, predict_body, predict_request_model
from ml_core.serving.raw_route import scoring_route
from ml_core.serving.service import ModelLoader, ReloadError, ScoringService
from ml_core.serving.state import ensure_admin_token, token_path
from ml_core.serving.v2_protocol import InferenceRequest
from ml_core.serving.v2_routes import add_v2_routes

log = logging.getLogger(__name__)
ADMIN_HEADER = "X-Opsagent-Admin-Token"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
# FastAPI's own OpenTelemetry instrumentation, off: it asks the OTel API whether a provider is configured on every
# request, even when none is (~3 µs alone, ~11 µs a request over HTTP: the bare benchmark handler with it on and off),
# and the service reports through /metrics and the prediction log. ``python -m ml_core.serving --otel`` (or
# OPSAGENT_SERVING_OTEL=1) turns it back on.
NO_HTTP_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
PREDICT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}}}}}


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json")


def registry_loader(layout: HomeLayout, model_name: str, tracking_uri: str | None = None) -> ModelLoader:
    """Loads versions from the MLflow registry at ``tracking_uri`` (default: the SQLite store in ``layout``),
    opened on first use, in a worker thread."""
    holder: dict[str, Any] = {}

    def load(version: str):
        if "registry" not in holder:
            from ml_core.registry import Registry

            holder["registry"] = Registry(layout, tracking_uri)
        return holder["registry"].load(model_name, version)

    return load


def create_app(layout: HomeLayout, model_name: str, *, loader: ModelLoader | None = None,
               state_file: Path | None = None, autoload: bool = True, seed: int | None = None,
               schema: TableSchema | None = None, tracking_uri: str | None = None,
               freeze_heap: bool = False, http_telemetry: TelemetryConfig | None = None) -> FastAPI:
    """Build the app. ``autoload=False`` starts with nothing loaded (``/ready`` 503) until ``/admin/reload``.
    Requests are validated against ``schema``, by default the model's spec in ``layout``. Versions come from the
    MLflow registry at ``tracking_uri`` (default: the SQLite store in ``layout``) unless a ``loader`` is given.
    ``freeze_heap``: freeze the heap after each reload (``serving.heap``), for a process that only serves.
    ``http_telemetry``: FastAPI's OpenTelemetry settings (``{}``: its defaults, the global providers); None: off."""
    layout.ensure()
    if schema is None:
        from ml_core.spec.store import SpecStore

        schema = SpecStore(layout).get(model_name).schema
    service = ScoringService(layout, model_name, loader or registry_loader(layout, model_name, tracking_uri),
                             state_file=state_file, seed=seed, schema=schema)
    token = ensure_admin_token(token_path(layout, model_name))

    async def lifespan(app: FastAPI):
        task = asyncio.create_task(_initial_load(service, freeze_heap)) if autoload else None
        yield
        if task is not None:
            task.cancel()
        await service.close()

    app = FastAPI(title=f"opsagent scoring service: {model_name}", lifespan=lifespan, docs_url=None,
                  redoc_url=None, telemetry=NO_HTTP_TELEMETRY if http_telemetry is None else http_telemetry)
    app.state.service = service

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return _json({"detail": f"internal error: {type(exc).__name__}: {exc}"}, 500)

    _predict_route(app, service)  # the scoring routes first: routes are tried in order, ~1 µs each
    add_v2_routes(app, service)
    _status_routes(app, service, model_name)
    _admin_routes(app, service, token, freeze_heap)
    _describe_bodies(app, [predict_request_model(schema), InferenceRequest])
    return app


def _describe_bodies(app: FastAPI, bodies: list[type[BaseModel]]) -> None:
    """Put the request models of the routes that parse their own body into ``/openapi.json``'s components
    (the routes point at them by ``$ref``), so the document describes what FastAPI does not validate."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _, defs = models_json_schema([(m, "validation") for m in bodies],
                                         ref_template="#/components/schemas/{model}")
            doc.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


def _predict_route(app: FastAPI, service: ScoringService) -> None:
    """``POST /predict``: size and JSON checks here (refusals logged as rejections), the rest in the service."""
    @app.post("/predict", response_model=PredictResponse, openapi_extra=PREDICT_BODY, responses={
        400: {"model": PredictError, "description": "malformed JSON"},
        413: {"model": PredictError, "description": "body or batch too large"},
        422: {"model": PredictError, "description": "not a batch, or every record invalid"}})
    async def predict(request: Request) -> Response:
        t0 = time.perf_counter()
        try:
            size = int(request.headers.get("content-length") or 0)
            if size > MAX_BODY_BYTES:
                raise RequestRejected(413, f"body of {size} bytes exceeds {MAX_BODY_BYTES}; send smaller batches",
                                      [FieldError(None, None, "batch_too_large", f"{size} bytes")])
            raw = await request.body()
            # The usual body, every record valid, is read and checked in one pass; any other is parsed here and
            # judged record by record in the service, which tells what is wrong.
            body = service.validator.validate_raw(raw)
            if body is None:
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError as exc:
                    raise RequestRejected(400, f"malformed JSON: {exc}",
                                          [FieldError(None, None, "malformed_json", str(exc))]) from None
        except RequestRejected as rej:
            service.reject(service.request_ids.next(), rej)
            return _json(rej.body(), rej.status)
        try:
            # A partly valid batch is a 200 whose body lists the refused records in ``errors``: the request
            # succeeded for what could be scored, and 207 Multi-Status is WebDAV's (its XML body is not ours).
            return _json(predict_body(await service.score(body, t0)))
        except RequestRejected as rej:  # the body is not a batch, or no record in it is valid
            return _json(rej.body(), rej.status)

    scoring_route(app, "/predict", predict)


def _status_routes(app: FastAPI, service: ScoringService, model_name: str) -> None:
    """``/health`` (the process is up), ``/ready`` (routing loaded), ``/metrics`` (Prometheus), ``/state``."""
    @app.get("/health")
    async def health() -> Response:
        return _json({"status": "alive", "model": model_name, "pid": os.getpid()})

    @app.get("/ready", responses={200: {"description": "routing loaded"}, 503: {"description": "not ready"}})
    async def ready() -> Response:
        st = service.status()
        # the pid lets a deployer tell its own service from another one that took the port first
        return _json({"ready": st.ready, "reason": st.reason, "versions": st.versions, "pid": os.getpid()},
                     200 if st.ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/state")
    async def state() -> Response:
        st = service.state
        return _json({"routing": st.routing() if st else None, "loaded": sorted(service.versions),
                      "failed": service.failed, "fallback": "baseline" if service.baseline else "prior"})


def _admin_routes(app: FastAPI, service: ScoringService, token: str, freeze_heap: bool) -> None:
    """``POST /admin/reload``: loopback clients with the admin token only (the deploy backend)."""
    @app.post("/admin/reload", responses={200: {"description": "reloaded"}, 403: {"description": "refused"},
                                          409: {"description": "a version failed readiness"}})
    async def reload(request: Request) -> Response:
        host = request.client.host if request.client else ""
        if host not in LOOPBACK:
            return _json({"detail": "admin endpoints answer loopback clients only"}, 403)
        if not hmac.compare_digest(request.headers.get(ADMIN_HEADER, ""), token):
            return _json({"detail": f"missing or wrong {ADMIN_HEADER} header"}, 403)
        try:
            st = await service.reload(strict=True)
        except ReloadError as exc:
            return _json({"detail": str(exc), "routing": service.state.routing() if service.state else None}, 409)
        if freeze_heap:
            settle_heap()
        return _json({"routing": st.routing(), "loaded": sorted(service.versions)})


async def _initial_load(service: ScoringService, freeze_heap: bool) -> None:
    try:
        await service.reload(strict=False)
    except ReloadError as exc:
        log.error("initial load failed: %s", exc)
    if freeze_heap:  # what loading left is the process's for good (``serving.heap``)
        settle_heap()
