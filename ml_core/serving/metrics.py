"""Prometheus metrics of the scoring service, on a registry of its own (one per app instance).

Every series carries ``model`` (one per service: the process serves one model) and, where a version answered,
``version``: the version that *answered* (champion, canary, a fallback version, or ``baseline``/``prior``), not
every version ever registered. A service loads at most champion, canary and previous champion at a time, so a
version label adds a handful of series per deploy, and old versions stop growing once they stop answering.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

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


BUCKET_NAMES = [*map(floatToGoString, LATENCY_BUCKETS), "+Inf"]  # the histogram's ``le`` labels


class _Answered:
    """What one (version, role) answered: rows scored, the latency's sum and its count per bucket (+Inf last)."""

    __slots__ = ("buckets", "created", "rows", "seconds")

    def __init__(self) -> None:
        self.rows = 0
        self.seconds = 0.0
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self.created = time.time()


class AnsweredSeries:
    """The three series every scored request adds to (``opsagent_predict_requests`` with status ok, ``_rows`` and the
    latency histogram), counted in plain numbers and turned into Prometheus families when scraped.

    prometheus_client's ``inc`` and ``observe`` take a lock each (four a request, ~4 µs of a ~75 µs batch-1 request
    in process); the scoring path runs on the event loop alone, so a list index and two additions do. A scrape
    copies each bucket list once, so a histogram's buckets, count and +Inf always agree; the exposition is the one
    the library's own Counter and Histogram give (``tests/ml_core/test_serving_metrics.py`` compares the two)."""

    def __init__(self, model: str):
        self.model = model
        self.by: dict[tuple[str, str], _Answered] = {}
        self.rejected = 0  # requests refused whole (version "", role "none", status "rejected")
        self.rejected_created = 0.0  # when the first was: the series exists from then on, as a labelled child

    def answered(self, version: str, role: str, rows: int, seconds: float) -> None:
        a = self.by.get((version, role))
        if a is None:
            a = self.by[(version, role)] = _Answered()
        a.rows += rows
        a.seconds += seconds
        a.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # the first bound >= seconds, as ``observe`` picks

    def describe(self) -> Iterator[Metric]:
        return self._families()

    def collect(self) -> Iterator[Metric]:
        return self._families(list(self.by.items()))

    def _families(self, answered: list[tuple[tuple[str, str], _Answered]] | None = None) -> Iterator[Metric]:
        created = prometheus_metrics._use_created  # PROMETHEUS_DISABLE_CREATED_SERIES, as the library's metrics
        m = self.model
        requests = CounterMetricFamily("opsagent_predict_requests", "Predict requests by answering version, role, "
                                       "status", labels=["model", "version", "role", "status"])
        rows = CounterMetricFamily("opsagent_predict_rows", "Scored records by answering version and role",
                                   labels=["model", "version", "role"])
        latency = HistogramMetricFamily("opsagent_predict_latency_seconds",
                                        "Predict request latency by answering version and role",
                                        labels=["model", "version", "role"])
        for (version, role), a in answered or []:
            counts = list(a.buckets)  # one copy: the buckets of this scrape agree with each other
            total, cumulative = sum(counts), []
            running = 0
            for bound, count in zip(BUCKET_NAMES, counts, strict=True):
                running += count
                cumulative.append((bound, running))
            at = a.created if created else None
            requests.add_metric([m, version, role, "ok"], total, created=at)
            rows.add_metric([m, version, role], a.rows, created=at)
            latency.add_metric([m, version, role], cumulative, a.seconds)
            if created:
                latency.samples.append(Sample("opsagent_predict_latency_seconds_created",
                                              {"model": m, "version": version, "role": role}, a.created))
        if self.rejected:
            requests.add_metric([m, "", "none", "rejected"], self.rejected,
                                created=self.rejected_created if created else None)
        yield from (requests, rows, latency)


class ServiceMetrics:
    def __init__(self, model: str = "") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.model = model
        self.scored = AnsweredSeries(model)
        r.register(self.scored)
        self.answered = self.scored.answered  # one scored request: count, rows, latency by who answered
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

    def rejected(self) -> None:
        """One request refused whole."""
        if not self.scored.rejected:
            self.scored.rejected_created = time.time()
        self.scored.rejected += 1
