"""Traces of graph runs — their nodes, LLM calls and tool calls — in the home's MLflow tracking store.

One trace per graph run (a triage, a chat turn, a remediation answer): the runner opens a root span with
``traced_run`` and hands MLflow's LangChain tracer to the graph as a callback, so every node, chat-model call and
LangChain tool call below it becomes a child span; ``tool_span`` adds our own tool calls (``tools.catalog``),
which nodes run directly rather than through LangChain. Traces land in the ``opsagent-traces`` experiment of
the settings' tracking URI (SQLite in the home by default): ``mlflow ui --backend-store-uri <uri>``, then the
experiment's Traces tab.

``OPSAGENT_TRACING=off`` turns it off; ``OPSAGENT_OTLP_ENDPOINT`` also sends every span to an OpenTelemetry
collector (MLflow's dual export through the standard OTLP exporter). LangSmith needs nothing from us: with
``LANGSMITH_TRACING=true`` and ``LANGSMITH_API_KEY`` LangChain adds its own tracer beside ours.

Tracing never fails a run: if the store cannot be reached the run goes on untraced, with a warning.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.settings import Settings

if TYPE_CHECKING:
    from langchain_core.runnables import RunnableConfig

TRACE_EXPERIMENT = "opsagent-traces"
_log = logging.getLogger(__name__)
_lock = threading.Lock()
_experiments: dict[str, str] = {}  # tracking URI -> id of its traces experiment (created once per store)
_tracer: Any = None  # one MLflow LangChain tracer for the process: it keeps no per-trace state on itself


@dataclass(frozen=True)
class RunTrace:
    """The trace a graph run writes into: its id (None when untraced) and the callbacks its config needs."""

    trace_id: str | None = None
    callbacks: list[Any] = field(default_factory=list)

    def config(self, config: RunnableConfig) -> RunnableConfig:
        """The graph's run config with the tracer added (unchanged when untraced or nested in a traced run)."""
        if not self.callbacks:
            return config
        return {**config, "callbacks": [*(config.get("callbacks") or []), *self.callbacks]}  # type: ignore[misc]


def trace_line(settings: Settings, trace_id: str | None) -> str:
    """``'tr-1f… (MLflow experiment opsagent-traces at sqlite:///…/mlflow.db)'``, or why there is none."""
    if not trace_id:
        return "not traced" + ("" if settings.tracing else " (OPSAGENT_TRACING=off)")
    return f"{trace_id} (MLflow experiment {TRACE_EXPERIMENT} at {settings.tracking_uri})"


def current_trace_id() -> str | None:
    """The id of the trace the calling code runs inside (a node of a traced graph run), or None."""
    import mlflow

    return mlflow.get_active_trace_id()


@contextmanager
def traced_run(settings: Settings, name: str, *, inputs: dict[str, Any] | None = None,
               attributes: dict[str, str] | None = None) -> Iterator[RunTrace]:
    """A root span named ``name`` around one graph run; nested in another traced run it is a child span of it
    (a chat turn's triage belongs to the chat turn's trace)."""
    if not settings.tracing:
        yield RunTrace()
        return
    import mlflow
    from mlflow.entities import SpanType
    from mlflow.entities.span import NO_OP_SPAN_TRACE_ID
    from mlflow.entities.trace_location import MlflowExperimentLocation

    nested = mlflow.get_current_active_span() is not None
    try:
        destination = None if nested else MlflowExperimentLocation(_experiment_id(settings))
    except Exception as exc:  # store unreachable or read-only: the run matters more than its trace
        _log.warning("tracing off for %s: cannot open the MLflow experiment %s at %s (%s)", name, TRACE_EXPERIMENT,
                     settings.tracking_uri, exc)
        yield RunTrace()
        return
    with mlflow.start_span(name, span_type=SpanType.CHAIN, attributes=attributes,
                           trace_destination=destination) as span:
        if inputs:
            span.set_inputs(inputs)
        # MLflow hands out a no-op span when it cannot start one (it logs why): the run goes on untraced.
        trace_id = span.trace_id if span.trace_id != NO_OP_SPAN_TRACE_ID else None
        # Nested: the outer run's tracer reaches this graph through LangChain's inherited callbacks.
        yield RunTrace(trace_id=trace_id, callbacks=[_langchain_tracer()] if trace_id and not nested else [])


@contextmanager
def tool_span(name: str, args: dict[str, Any]) -> Iterator[Any]:
    """A TOOL span for one tool call inside a traced run; outside one (MCP, CLI reads) nothing is recorded."""
    import mlflow
    from mlflow.entities import SpanType

    if mlflow.get_current_active_span() is None:
        yield None
        return
    with mlflow.start_span(name, span_type=SpanType.TOOL) as span:
        span.set_inputs(args)
        yield span


def _experiment_id(settings: Settings) -> str:
    """The traces experiment of the settings' store (created with its artifacts in the home), and MLflow's
    global tracking URI pointed at that store: its span exporter writes wherever that URI points."""
    import mlflow

    uri = settings.tracking_uri
    with _lock:
        _configure_export(settings)
        if mlflow.get_tracking_uri() != uri:
            mlflow.set_tracking_uri(uri)  # what opening the home's Registry does; MLflow re-binds its exporter
        if uri not in _experiments:
            client = mlflow.MlflowClient(uri)
            found = client.get_experiment_by_name(TRACE_EXPERIMENT)
            # The registry's rule (the team's artifact root, a server's own choice, else the home), in "traces".
            from ml_core.registry import artifact_location

            root = artifact_location(settings.layout.ensure(), uri, settings.mlflow_artifact_root)
            _experiments[uri] = found.experiment_id if found else client.create_experiment(
                TRACE_EXPERIMENT, artifact_location=f"{root.rstrip('/')}/traces" if root else None)
        return _experiments[uri]


# MLflow's own switches for exporting to an OTLP collector as well as to the tracking store.
_OTLP_ENDPOINT, _DUAL_EXPORT, _PROTOCOL = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "MLFLOW_TRACE_ENABLE_OTLP_DUAL_EXPORT",
                                           "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
_exported_to: dict[str, str] = {}  # the variables we set for settings.otlp_endpoint (to undo when it changes)


def _configure_export(settings: Settings) -> None:
    """Point MLflow's exporters at ``settings.otlp_endpoint`` (or back to the store alone), re-initialising them
    only when that changed. MLflow reads these variables when it builds its tracer provider; ones a user set
    in the environment are left alone."""
    import mlflow

    if settings.otlp_endpoint == _exported_to.get(_OTLP_ENDPOINT):
        return
    for key, value in _exported_to.items():
        if os.environ.get(key) == value:
            del os.environ[key]
    _exported_to.clear()
    if settings.otlp_endpoint:
        # An OTLP/HTTP endpoint (the collector's :4318/v1/traces) unless the standard variable says grpc.
        wanted = {_OTLP_ENDPOINT: settings.otlp_endpoint, _DUAL_EXPORT: "true",
                  _PROTOCOL: os.environ.get(_PROTOCOL) or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                  or "http/protobuf"}
        os.environ.update(wanted)
        _exported_to.update(wanted)
    mlflow.tracing.reset()  # the next span builds a provider from the new variables


def _langchain_tracer() -> Any:
    global _tracer
    with _lock:
        if _tracer is None:
            from mlflow.langchain.langchain_tracer import MlflowLangchainTracer

            _tracer = MlflowLangchainTracer()
        return _tracer
