"""A served world for graph tests: churn v1 trained and deployed by the local backend, traffic logged."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from agent.context import OpsContext
from agent.settings import Settings
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.deploy.local import LocalBackend
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.registry import Registry
from ml_core.simulator.scenario import load_scenario
from ml_core.simulator.traffic import deliver_labels, run_traffic
from tests.conftest import make_champion_home


@dataclass
class World:
    layout: HomeLayout
    registry: Registry
    backend: LocalBackend
    url: str
    champion: str
    drift_since: float


def make_ctx(layout: HomeLayout, *, actor: str = "tester", **overrides) -> OpsContext:
    settings = Settings(home=layout.home, canary_watch_s=0, canary_min_requests=5,
                        **{k: v for k, v in overrides.items() if k in Settings.model_fields})
    extra = {k: v for k, v in overrides.items() if k not in Settings.model_fields}
    return OpsContext(settings, via="test", actor=actor, **extra)


def canary_replay(seed: int, requests: int = 40):
    """A canary watch that replays ``requests`` drifted requests at the service (ctx.canary_traffic)."""
    from ml_core.data.churn import load_churn

    pool = split_frame(load_churn(), CHURN_SCHEMA).test
    scenario = load_scenario("covariate_drift").model_copy(update={"requests": requests, "seed": seed})
    return lambda url, _seconds: run_traffic(url, scenario, pool, schema=CHURN_SCHEMA)


def start_ready(layout, registry, version: str):
    """Serve ``version`` of churn on a free port and wait (up to 120 s) until it answers /ready: (backend, status)."""
    backend = LocalBackend(layout, "churn", registry, latency_budget_ms=250)  # it picks a port, again if lost
    status = backend.start(version)
    deadline = time.time() + 120
    while not status.ready and time.time() < deadline:
        time.sleep(0.5)
        status = backend.status()
    assert status.ready and status.url, status
    return backend, status


def serve_world(root: Path, churn_df, scenario: str = "covariate_drift", requests: int = 120,
                tracking_uri: str | None = None) -> World:
    layout, registry, job = make_champion_home(root, churn_df, epochs=4, tracking_uri=tracking_uri)
    backend, status = start_ready(layout, registry, job.version)
    t0 = time.time()
    pool = split_frame(churn_df, CHURN_SCHEMA).test
    traffic = run_traffic(status.url, load_scenario(scenario).model_copy(update={"requests": requests}), pool,
                          schema=CHURN_SCHEMA)
    with PredictionLog(layout.predictions_db("churn")) as log:
        deliver_labels(log, traffic)
    return World(layout, registry, backend, status.url, job.version, t0)
