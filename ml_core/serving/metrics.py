"""Prometheus metrics of the scoring service, on a registry of its own (one per app instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("opsagent_predict_requests", "Predict requests by answering version, role, status",
                                ["version", "role", "status"], registry=r)
        self.rows = Counter("opsagent_predict_rows", "Scored records by answering version and role",
                            ["version", "role"], registry=r)
        self.latency = Histogram("opsagent_predict_latency_seconds", "Predict request latency by role", ["role"],
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5),
                                 registry=r)
        self.fallbacks = Counter("opsagent_predict_fallbacks", "Requests answered by a fallback",
                                 ["intended_version", "kind"], registry=r)
        self.rejections = Counter("opsagent_predict_rejections",
                                  "Requests with rejected records (whole or in part) by problem", ["problem"],
                                  registry=r)
        self.rejected_records = Counter("opsagent_predict_rejected_records",
                                        "Records refused by validation (the rest of their batch is scored)",
                                        registry=r)
        self.ready = Gauge("opsagent_model_ready", "1 when a loaded version passed its smoke prediction",
                           ["version"], registry=r)
        self.canary_weight = Gauge("opsagent_canary_weight", "Share of requests routed to the canary",
                                   registry=r)
