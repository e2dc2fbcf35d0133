"""The scoring path's series (``metrics.AnsweredSeries``) are exposed exactly as prometheus_client's own Counter and
Histogram expose the same observations, ``_created`` times aside."""

from __future__ import annotations

import random
import re

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import metrics as prometheus_metrics

from ml_core.serving.metrics import LATENCY_BUCKETS, ServiceMetrics


def reference(model: str, observed: list[tuple[str, str, int, float]], rejected: int) -> str:
    """The exposition of the library's own metrics after the same requests (how the service counted them before)."""
    r = CollectorRegistry()
    requests = Counter("opsagent_predict_requests", "Predict requests by answering version, role, status",
                       ["model", "version", "role", "status"], registry=r)
    rows = Counter("opsagent_predict_rows", "Scored records by answering version and role",
                   ["model", "version", "role"], registry=r)
    latency = Histogram("opsagent_predict_latency_seconds", "Predict request latency by answering version and role",
                        ["model", "version", "role"], buckets=LATENCY_BUCKETS, registry=r)
    for version, role, n, seconds in observed:
        requests.labels(model, version, role, "ok").inc()
        rows.labels(model, version, role).inc(n)
        latency.labels(model, version, role).observe(seconds)
    for _ in range(rejected):
        requests.labels(model, "", "none", "rejected").inc()
    return generate_latest(r).decode()


def scored_series(text: str) -> list[str]:
    """The lines of the three series, each ``_created`` value blanked (a time)."""
    keep = ("opsagent_predict_requests", "opsagent_predict_rows", "opsagent_predict_latency_seconds")
    lines = [line for line in text.splitlines() if any(k in line for k in keep)]
    return [re.sub(r"(_created\{[^}]*\}) \S+$", r"\1 T", line) for line in lines]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_scored_series_read_as_the_librarys_own_metrics(seed: int) -> None:
    rng = random.Random(seed)
    # latencies on and between the bucket bounds (a bound belongs to its own bucket), and past the last one
    picks = [*LATENCY_BUCKETS, 0.0, 7.0, 1e-6]
    observed = [(rng.choice(["3", "4", "baseline"]), rng.choice(["champion", "canary", "fallback"]),
                 rng.randint(1, 300), rng.choice(picks) if rng.random() < 0.5 else rng.uniform(0, 6))
                for _ in range(rng.randint(1, 400))]
    rejected = rng.randint(0, 3)
    metrics = ServiceMetrics("churn")
    for version, role, n, seconds in observed:
        metrics.answered(version, role, n, seconds)
    for _ in range(rejected):
        metrics.rejected()
    ours = scored_series(generate_latest(metrics.registry).decode())
    assert ours == scored_series(reference("churn", observed, rejected))
    assert any("_bucket" in line for line in ours) and any("_created" in line for line in ours)


def test_nothing_scored_yet_exposes_no_series_and_created_can_be_turned_off() -> None:
    metrics = ServiceMetrics("churn")
    assert not [line for line in generate_latest(metrics.registry).decode().splitlines()
                if line.startswith("opsagent_predict_requests")]
    metrics.answered("3", "champion", 2, 0.003)
    prometheus_metrics.disable_created_metrics()
    try:
        text = generate_latest(metrics.registry).decode()
    finally:
        prometheus_metrics.enable_created_metrics()
    assert "_created" not in text
    assert 'opsagent_predict_latency_seconds_bucket{le="0.005",model="churn",role="champion",version="3"} 1.0' in text
    assert 'opsagent_predict_rows_total{model="churn",role="champion",version="3"} 2.0' in text
