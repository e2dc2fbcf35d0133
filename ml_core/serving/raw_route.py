"""The scoring routes as plain Starlette routes ahead of FastAPI's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.routing import Route


def scoring_route(app: FastAPI, path: str, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
    """Serve ``POST path`` by ``endpoint`` as a plain Starlette route, first of all routes.

    A FastAPI route runs its dependency machinery for every request (solving the ``Request`` parameter, an exit
    stack, the endpoint's call through ``run_endpoint_function``): ~25 µs a request in process, whatever the batch,
    half of what the whole HTTP stack costs the bare handler. The scoring routes take the raw request and build
    their own responses, so none of it is theirs to use. The FastAPI route of the same path stays behind this one,
    for ``/openapi.json`` (it is never reached by a POST); the app's exception handlers apply alike."""
    app.router.routes.insert(0, Route(path, endpoint, methods=["POST"]))
