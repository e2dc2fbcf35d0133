"""What every tool shares: fixable errors returned as data, model/version lookups, windows, compact values.

An error the LLM can fix (an unknown model, a version that does not exist, an empty window) comes back
as the tool's result with ``error`` set and a hint of what to do; programming errors still raise.
"""

from __future__ import annotations

import functools
import math
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from agent.context import OpsContext
from ml_core.data.validation import DataValidationError
from ml_core.deploy.base import DeploymentError
from ml_core.predlog import PredictionLog
from ml_core.registry import CHALLENGER, CHAMPION, RegistryError, VersionInfo
from tools.results import ToolResult

MAX_WINDOW_MINUTES = 30 * 24 * 60.0


class ToolInputError(ValueError):
    """Bad input the model can correct; the message says how."""


# Exceptions that mean "the request cannot be served as asked", never "the code is broken".
FIXABLE: tuple[type[Exception], ...] = (ToolInputError, RegistryError, DataValidationError, DeploymentError)

P = ParamSpec("P")
R = TypeVar("R", bound=ToolResult)


def errors_as_data(*extra: type[Exception]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a tool so fixable exceptions (plus ``extra``) become its result type with ``error`` set."""
    caught = FIXABLE + extra

    def wrap(func: Callable[P, R]) -> Callable[P, R]:
        result_type = typing.get_type_hints(func)["return"]

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except caught as exc:
                return result_type(error=str(exc))

        return run

    return wrap


def require_model(ctx: OpsContext, model: str) -> None:
    """Raise a fixable error naming the registered models when ``model`` is not one of them."""
    known = ctx.registry.models()
    if model not in known:
        names = ", ".join(known) or "none yet (train one: opsagent train)"
        raise ToolInputError(f"unknown model '{model}'; registered models: {names}. Call list_models to see them.")


def resolve_version(ctx: OpsContext, model: str, version: str) -> VersionInfo:
    """A version by number ('3' or 'v3') or by alias ('champion', 'challenger')."""
    require_model(ctx, model)
    wanted = str(version).strip().lower()
    if wanted in (CHAMPION, CHALLENGER):
        info = ctx.registry.alias(model, wanted)
        if info is None:
            raise ToolInputError(f"model '{model}' has no {wanted}; call model_status to see its aliases")
        return info
    return ctx.registry.version(model, wanted.removeprefix("v"))


def window(ctx: OpsContext, minutes: float) -> tuple[float, float]:
    """(since, until) for the last ``minutes`` before ``ctx.clock()``."""
    if not 0 < minutes <= MAX_WINDOW_MINUTES or math.isnan(minutes):
        raise ToolInputError(f"window_minutes must be between 0 and {MAX_WINDOW_MINUTES:g} (30 days), got {minutes}")
    until = ctx.clock()
    return until - minutes * 60, until


@contextmanager
def open_log(ctx: OpsContext, model: str) -> Iterator[PredictionLog | None]:
    """The model's prediction log, or None when it has none yet (opening would create an empty one)."""
    if not ctx.has_prediction_log(model):
        yield None
        return
    with ctx.prediction_log(model) as log:
        yield log


def brain_of(ctx: OpsContext) -> str:
    """Who files a proposal through a tool: the configured LLM, or the offline policy without one."""
    return f"llm {ctx.settings.llm_model}" if ctx.settings.llm_configured else "offline policy"


def iso(ts: float | None) -> str | None:
    """Unix seconds as '2025-01-31T12:00:00Z' (compact and unambiguous for an LLM)."""
    if ts is None or not math.isfinite(ts):
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def num(x: Any, digits: int = 4) -> float | None:
    """A rounded float, or None for missing/NaN/inf (which JSON cannot carry)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return round(f, digits) if math.isfinite(f) else None


def metrics(values: typing.Mapping[str, Any], keys: typing.Iterable[str] | None = None) -> dict[str, float]:
    """Rounded finite metrics, optionally only ``keys`` (in that order)."""
    names = list(keys) if keys is not None else list(values)
    out = {k: num(values[k]) for k in names if k in values}
    return {k: v for k, v in out.items() if v is not None}


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reference_metrics(info: VersionInfo) -> dict[str, float]:
    """The registry's ``test_*`` tags of a version as floats (the champion's reference metrics)."""
    return metrics(info.test_metrics)
