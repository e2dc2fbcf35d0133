"""A model's health page (``/models/{name}/health``: SVG charts over time) and the same series as JSON
(``/api/models/{name}/health``), both from ``agent.health.model_health``.

Query: ``hours`` (the window ends now; default 24) and ``buckets`` (default 24); the JSON endpoint also takes
``since`` and ``until`` in unix seconds. A bad value is a 400 that says what to send.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from agent.health import model_health
from interfaces.web.auth import Identity
from interfaces.web.deps import api_user, dispatcher_of, page_user
from interfaces.web.health_svg import colours, panel_svg, swatch
from interfaces.web.pages import render
from ml_core.monitoring.history import MARKER_COLOURS, HealthHistory, HistoryError
from ml_core.spec.errors import SpecError

router = APIRouter()
DEFAULT_HOURS = 24.0
DEFAULT_BUCKETS = 24


def _number(name: str, raw: str | None, default: float) -> float:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be a number, e.g. {name}={default:g}; got {raw[:40]!r}") from None
    if not value > 0 or value != value:
        raise HTTPException(400, f"{name} must be a positive number, e.g. {name}={default:g}; got {raw[:40]!r}")
    return value


def _history(request: Request, name: str, hours: str | None, buckets: str | None, since: str | None = None,
             until: str | None = None) -> tuple[HealthHistory, float]:
    """The model's history for the query, or an HTTP error saying what was wrong (nothing else is raised)."""
    n = _number("buckets", buckets, DEFAULT_BUCKETS)
    if n != int(n):
        raise HTTPException(400, f"buckets must be a whole number, e.g. buckets={DEFAULT_BUCKETS}; got {buckets!r}")
    end = _number("until", until, time.time())
    span_h = _number("hours", hours, DEFAULT_HOURS)
    start = _number("since", since, end - span_h * 3600)
    try:
        history = model_health(dispatcher_of(request).ctx, name, since=start, until=end, buckets=int(n))
    except SpecError as exc:
        raise HTTPException(404, str(exc)) from exc
    except HistoryError as exc:
        raise HTTPException(400, str(exc)) from exc
    return history, (end - start) / 3600


def _bucket_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 60:.3g} min" if seconds >= 60 else f"{seconds:.3g} s"


@router.get("/models/{name}/health")
def health_page(name: str, request: Request, hours: str | None = None, buckets: str | None = None,
                identity: Identity = Depends(page_user)) -> Response:
    history, span_h = _history(request, name, hours, buckets)
    palette = colours(history)
    version_colours = {v: palette.get(f"traffic:v{v}", "#999") for v in history.versions}
    charts = {p.key: panel_svg(history, p, palette) for p in history.panels}
    return render(request, "health.html", identity, active="Models", h=history, charts=charts,
                  series_colours=palette, version_colours=version_colours, marker_colours=MARKER_COLOURS, swatch=swatch,
                  hours=f"{span_h:g}",
                  bucket=_bucket_text(history.bucket_s))


@router.get("/api/models/{name}/health")
def health_json(name: str, request: Request, hours: str | None = None, buckets: str | None = None,
                since: str | None = None, until: str | None = None,
                identity: Identity = Depends(api_user)) -> dict[str, Any]:
    """The health page's series: per panel, one list of values per series, one value per bucket (null: too few
    rows in that bucket), with bucket starts and markers in unix seconds."""
    history, _ = _history(request, name, hours, buckets, since, until)
    return history.model_dump(mode="json")
