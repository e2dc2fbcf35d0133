"""Prometheus metrics of the scoring service, on a registry of its own (one per app instance).

Every series carries ``model`` (one per service: the process serves one model) and, where a version answered,
``version``: the version that *answered* (champion, canary, a fallback version, or ``baseline``/``prior``), not
every version ever registered. A service loads at most champion, canary and previous champion at a time, so a
version label adds a handful of series per deploy, and old versions stop growing once they stop answering.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_M = TypeVar("_M", Counter, Gauge, Histogram)
# Seconds: from 1 ms (a cached small batch) to 5 s (far past any latency budget: a fallback's own timeout).
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5)


class ModelBound(Generic[_M]):
    """A labelled metric whose first label, ``model``, is fixed: ``.labels(version, role)`` fills the rest.

    prometheus_client has no constant labels; binding the model here keeps every call site as it was."""

    def __init__(self, metric: _M, model: str):
        self.metric: _M = metric
        self.model = model

    def labels(self, *values: str) -> _M:
        return self.metric.labels(self.model, *values)


class ServiceMetrics:
    def __init__(self, model: str = "") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.model = model
        self.requests = ModelBound(Counter(
            "opsagent_predict_requests", "Predict requests by answering version, role, status",
            ["model", "version", "role", "status"], registry=r), model)
        self.rows = ModelBound(Counter("opsagent_predict_rows", "Scored records by answering version and role",
                                       ["model", "version", "role"], registry=r), model)
        self.latency = ModelBound(Histogram(
            "opsagent_predict_latency_seconds", "Predict request latency by answering version and role",
            ["model", "version", "role"], buckets=LATENCY_BUCKETS, registry=r), model)
        self.fallbacks = ModelBound(Counter("opsagent_predict_fallbacks", "Requests answered by a fallback",
                                            ["model", "intended_version", "kind"], registry=r), model)
        self.rejections = ModelBound(Counter(
            "opsagent_predict_rejections", "Requests with rejected records (whole or in part) by problem",
            ["model", "problem"], registry=r), model)
        self.rejected_records = Counter("opsagent_predict_rejected_records",
                                        "Records refused by validation (the rest of their batch is scored)",
                                        ["model"], registry=r).labels(model)
        self.ready = ModelBound(Gauge("opsagent_model_ready", "1 when a loaded version passed its smoke prediction",
                                      ["model", "version"], registry=r), model)
        self.canary_weight = Gauge("opsagent_canary_weight", "Share of requests routed to the canary",
                                   ["model"], registry=r).labels(model)
        self._answered: dict[tuple[str, str], tuple[Counter, Counter, Histogram]] = {}

    def answered(self, version: str, role: str, rows: int, seconds: float) -> None:
        """One scored request: its count, rows and latency under the version and role that answered. The three
        labelled children are looked up once per (version, role): ``labels()`` costs a lock and a dict per call."""
        children = self._answered.get((version, role))
        if children is None:
            children = self._answered[(version, role)] = (
                self.requests.labels(version, role, "ok"), self.rows.labels(version, role),
                self.latency.labels(version, role))
        requests, scored, latency = children
        requests.inc()
        scored.inc(rows)
        latency.observe(seconds)
