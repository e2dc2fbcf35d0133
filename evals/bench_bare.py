"""The limit reference of ``evals.bench_serving``: a bare handler on the scoring service's own HTTP stack.

    python -m evals.bench_bare --port P --answers FILE

FastAPI on uvicorn with uvloop and httptools, run exactly as ``python -m ml_core.serving`` runs, its POST paths
plain Starlette routes as the service's scoring paths are (``ml_core.serving.raw_route``): each POST
reads its body and returns a fixed, precomputed answer (the real service's answer to the same request, so
the bytes on the wire match), with no parsing, validation, model or logging. Whatever this reaches is the
most any handler on this stack can reach on this machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response

from ml_core.serving.app import NO_HTTP_TELEMETRY
from ml_core.serving.raw_route import scoring_route


def create_app(answers: dict[tuple[str, int], bytes]) -> FastAPI:
    """``answers``: (path, request body length) -> the response body to send."""
    # FastAPI's own telemetry off, as the service runs by default (``NO_HTTP_TELEMETRY``)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=NO_HTTP_TELEMETRY)
    fallback = b'{"detail": "no fixed answer for this request"}'

    async def answer(request: Request) -> Response:
        body = await request.body()
        fixed = answers.get((request.url.path, len(body)))
        return Response(fixed or fallback, status_code=200 if fixed else 404, media_type="application/json")

    # The same route kind the scoring paths use (a plain Starlette route ahead of FastAPI's), so the limit pays
    # what the service pays and no more: with FastAPI's own route it paid ~25 µs a request the service skips.
    for path in sorted({p for p, _ in answers}):
        scoring_route(app, path, answer)

    @app.get("/ready")
    async def ready() -> Response:
        return Response(b'{"ready": true}', media_type="application/json")

    return app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evals.bench_bare", description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--answers", type=Path, required=True,
                   help="JSON list of [path, request_body_length, answer_text] entries")
    args = p.parse_args(argv)
    import uvicorn

    answers = {(path, int(n)): text.encode() for path, n, text in json.loads(args.answers.read_text())}
    uvicorn.run(create_app(answers), host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", timeout_graceful_shutdown=5, timeout_keep_alive=75)


if __name__ == "__main__":
    main()
