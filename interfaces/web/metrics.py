"""`GET /metrics` of `opsagent serve`: Prometheus series of the agent itself, on a registry of its own.

- ``opsagent_triage_runs_total{model,outcome}`` and ``opsagent_triage_duration_seconds{model,outcome}``: every
  triage this process ran (asked for on the web page or in Slack, or scheduled), outcome ok / incident / failed;
  counted as each ends (so they start at zero with the process, as Prometheus counters do);
- ``opsagent_incidents{model,category,status}`` and ``opsagent_proposals{model,kind,status}``: the stores' counts,
  read at scrape time (one GROUP BY each), so they hold for the whole home, whichever process wrote them;
- ``opsagent_llm_calls_total``, ``opsagent_llm_errors_total``, ``opsagent_llm_tokens_total{direction}`` and
  ``opsagent_llm_cost_usd_total``, labelled ``llm`` (the configured model name): the LLM calls of this process's
  graph runs (the dispatcher's ``UsageMeter``, attached to every run as a callback). Calls made through the
  pydantic-ai writer are not LangChain calls and are not in these series; their tokens are in each incident.

Every label is bounded: models are the home's specs, categories, statuses and kinds are fixed vocabularies.
It needs sign-in like the JSON API (a bearer token, which Prometheus sends with ``authorization:`` in its scrape
config): the counts name models and incidents, and `opsagent serve` may listen beyond loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from interfaces.web.deps import api_user

if TYPE_CHECKING:
    from interfaces.dispatch import Dispatcher
    from interfaces.scheduler import RunRecord

logger = logging.getLogger(__name__)
router = APIRouter()
# Seconds. A quiet offline triage takes 1-5 s, one with an Evidently report and an LLM 10-60 s; a slow endpoint
# with retries several minutes. Buckets a factor of about 2 apart cover that range with ten series per label set.
TRIAGE_BUCKETS = (0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)


class ServeMetrics:
    """The series of one `opsagent serve` process; ``registry`` is what ``/metrics`` writes out."""

    def __init__(self, dispatcher: Dispatcher):
        self.dispatcher = dispatcher
        self.registry = CollectorRegistry()
        self.triage_runs = Counter("opsagent_triage_runs", "Triage runs by model and outcome (ok, incident, failed)",
                                   ["model", "outcome"], registry=self.registry)
        self.triage_seconds = Histogram("opsagent_triage_duration_seconds", "Triage run duration by model and "
                                        "outcome", ["model", "outcome"], buckets=TRIAGE_BUCKETS,
                                        registry=self.registry)
        self.registry.register(_StoreAndUsageCollector(dispatcher))
        dispatcher.watch_runs(self.observe_run)

    def observe_run(self, record: RunRecord) -> None:
        """Count one finished triage run (the dispatcher calls this for every run it sees)."""
        self.triage_runs.labels(record.model, record.status).inc()
        self.triage_seconds.labels(record.model, record.status).observe(max(0.0, record.finished_at
                                                                            - record.started_at))


class _StoreAndUsageCollector(Collector):
    """Reads the incident and proposal counts, and the LLM usage totals, when Prometheus scrapes."""

    def __init__(self, dispatcher: Dispatcher):
        self.dispatcher = dispatcher

    def collect(self) -> Iterator[Metric]:
        yield from self._store_counts()
        yield from self._llm_usage()

    def _store_counts(self) -> Iterator[Metric]:
        ctx = self.dispatcher.ctx
        incidents = GaugeMetricFamily("opsagent_incidents", "Incidents by model, category and status",
                                      labels=["model", "category", "status"])
        proposals = GaugeMetricFamily("opsagent_proposals", "Proposals by model, kind and status",
                                      labels=["model", "kind", "status"])
        try:
            for (model, category, status), n in sorted(ctx.incidents.counts().items()):
                incidents.add_metric([model, category, status], n)
            for (model, kind, status), n in sorted(ctx.approvals.counts().items()):
                proposals.add_metric([model, kind, status], n)
        except Exception:  # an unreadable store must not take the other series down with it
            logger.exception("/metrics could not read the incident or proposal counts")
            return
        yield incidents
        yield proposals

    def _llm_usage(self) -> Iterator[Metric]:
        settings, meter = self.dispatcher.settings, self.dispatcher.llm_usage
        usage = meter.snapshot()
        llm = settings.llm_model  # the configured model's name (the offline policy makes no calls: zeros)
        calls = CounterMetricFamily("opsagent_llm_calls", "LLM calls of this process's graph runs", labels=["llm"])
        calls.add_metric([llm], usage["calls"])
        errors = CounterMetricFamily("opsagent_llm_errors", "LLM calls that failed", labels=["llm"])
        errors.add_metric([llm], usage["errors"])
        tokens = CounterMetricFamily("opsagent_llm_tokens", "LLM tokens by direction (input, output)",
                                     labels=["llm", "direction"])
        tokens.add_metric([llm, "input"], usage["input_tokens"])
        tokens.add_metric([llm, "output"], usage["output_tokens"])
        cost = CounterMetricFamily("opsagent_llm_cost_usd", "Estimated LLM cost in US dollars (genai-prices' "
                                   "table, or the settings' prices); absent when the model's price is unknown",
                                   labels=["llm"])
        usd = meter.cost_usd(settings)
        if usd is not None:  # an unknown price is no sample, not a cost of zero
            cost.add_metric([llm], usd)
        yield from (calls, errors, tokens, cost)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, _user: object = Depends(api_user)) -> Response:
    """Prometheus text format; sign-in as for the JSON API (``Authorization: Bearer <token>``)."""
    served: ServeMetrics = request.app.state.metrics
    return Response(generate_latest(served.registry), media_type=CONTENT_TYPE_LATEST)
