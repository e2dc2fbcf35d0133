"""Ingest over HTTP: another serving system posts its predictions and delayed labels to `opsagent serve`.

``POST /api/v1/models/NAME/predictions`` and ``POST /api/v1/models/NAME/labels`` take ``{"records": [...]}``
(the fields of `opsagent ingest`), authenticated like every API call (``Authorization: Bearer <token>``, or a
session cookie plus the CSRF header). Each record is validated against NAME's spec on its own:

- 200: some records were valid; they are logged, and the body counts accepted and rejected with the errors;
- 422: none was valid (nothing logged but the rejections), or the body is not ``{"records": [objects]}``;
- 400: the body is not JSON; 401: not signed in; 404: no model NAME; 413: too many records or bytes.

The errors' ``row`` is the record's 1-based position in ``records``. For example::

    curl -X POST http://127.0.0.1:8780/api/v1/models/credit/predictions \
      -H "Authorization: Bearer $OPSAGENT_WEB_TOKEN" -H "Content-Type: application/json" \
      -d '{"records": [{"credit_id": "k1", "timestamp": "2024-05-01T12:00:00Z", "score": 0.31,
                        "version": "3", "Income": 130, "Home": "rent", ...every feature of the spec...}]}'
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from interfaces.web.auth import Identity
from interfaces.web.deps import api_post, dispatcher_of
from ml_core.spec.model_spec import ModelSpec

logger = logging.getLogger(__name__)
router = APIRouter()

MAX_RECORDS = 10_000  # per request; the byte cap is interfaces.web.limits (LARGE_BODY_PREFIXES)


@router.post("/api/v1/models/{name}/predictions")
async def post_predictions(name: str, request: Request, identity: Identity = Depends(api_post)) -> JSONResponse:
    """Predictions made by the model's own serving system (record id, timestamp, features, score, version)."""
    return await _ingest(request, name, "predictions", identity)


@router.post("/api/v1/models/{name}/labels")
async def post_labels(name: str, request: Request, identity: Identity = Depends(api_post)) -> JSONResponse:
    """Delayed labels by record id (the spec's label values, or 1/0; optional timestamp)."""
    return await _ingest(request, name, "labels", identity)


async def _ingest(request: Request, name: str, kind: Literal["predictions", "labels"],
                  identity: Identity) -> JSONResponse:
    spec = _spec(request, name)
    records = _records(await _body(request))
    result = await run_in_threadpool(_write, request, spec, kind, records)
    logger.info("%s sent %d %s for %s: %d accepted", identity.user, result["total"], kind, name, result["accepted"])
    return JSONResponse(result, status_code=200 if result["accepted"] else 422)


def _spec(request: Request, name: str) -> ModelSpec:
    from ml_core.spec.builtin import BUILTIN_SPECS
    from ml_core.spec.errors import SpecError
    from ml_core.spec.store import SpecStore

    store = SpecStore(dispatcher_of(request).ctx.layout)
    try:
        known = store.exists(name) or name in BUILTIN_SPECS
    except SpecError as exc:  # not even a valid model name
        raise HTTPException(404, str(exc)) from exc
    if not known:
        raise HTTPException(404, f"no model '{name}'; models: {', '.join(store.names()) or 'none yet'} "
                                 f"(add it with `opsagent models add {name} --data FILE --label COLUMN`)")
    try:
        return store.get(name)
    except SpecError as exc:  # the spec file was edited into an invalid state: the user must fix it first
        raise HTTPException(422, str(exc)) from exc


async def _body(request: Request) -> Any:
    try:
        return await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, 'the body must be JSON: {"records": [ {...}, ... ]}') from exc


def _records(body: Any) -> list[Any]:
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list) or not records:
        raise HTTPException(422, 'the body must be a JSON object {"records": [ {...}, ... ]} with at least one record')
    if len(records) > MAX_RECORDS:
        raise HTTPException(413, f"{len(records)} records in one request; the limit is {MAX_RECORDS}: split the batch")
    return records


def _write(request: Request, spec: ModelSpec, kind: str, records: list[Any]) -> dict[str, Any]:
    from ml_core.ingest import decision_threshold, ingest_labels, ingest_predictions
    from ml_core.predlog import PredictionLog

    ctx = dispatcher_of(request).ctx
    with PredictionLog(ctx.layout.predictions_store(spec.name)) as log:
        if kind == "labels":
            return ingest_labels(log, spec, records).to_dict()
        threshold = decision_threshold(ctx.registry, spec.name)
        return ingest_predictions(log, spec, records, threshold=threshold).to_dict()
