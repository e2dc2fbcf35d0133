"""What the soak benchmark runs against: a served churn home, steady traffic, and process probes.

Kept apart from ``bench_soak`` so a test can build the same world for a short soak.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from ml_core.data.tables import split_frame
from ml_core.deploy.local import LocalBackend
from ml_core.jobs import train_and_register
from ml_core.paths import HomeLayout
from ml_core.registry import CHAMPION, Registry
from ml_core.serving.server import free_port
from ml_core.spec.builtin import BUILTIN_SPECS
from ml_core.spec.data import load_spec_data
from ml_core.training import TrainConfig

MODEL = "churn"
SPEC = BUILTIN_SPECS[MODEL]()  # the demo's spec: its schema and its table, as any watched model's


@dataclass(frozen=True)
class ProcessSample:
    rss_mb: float  # resident memory (VmRSS), MiB
    fds: int  # open file descriptors
    threads: int  # OS threads (Python's and native ones: a leaked thread pool shows either way)


def sample_process(pid: int) -> ProcessSample:
    """Memory, file descriptors and threads of process ``pid``, read from /proc."""
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return ProcessSample(int(fields["VmRSS"].split()[0]) / 1024, len(os.listdir(f"/proc/{pid}/fd")),
                         int(fields["Threads"]))


def fd_targets(pid: int) -> list[str]:
    """What the process's file descriptors point at (to name a leak)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed between listdir and readlink
            continue
    return sorted(out)


@dataclass
class ServedHome:
    layout: HomeLayout
    backend: LocalBackend
    url: str
    pool: pd.DataFrame


def served_home(root: Path, epochs: int = 2) -> ServedHome:
    """churn v1 trained (a few epochs: the soak measures the watcher, not the model), champion, served locally."""
    layout = HomeLayout(root).ensure()
    registry = Registry(layout)
    data = load_spec_data(SPEC)
    job = train_and_register(registry, data, TrainConfig(epochs=epochs), model_name=MODEL, schema=SPEC.schema,
                             with_baseline=False)
    registry.set_alias(MODEL, CHAMPION, job.version)
    registry.mark_ready(MODEL, job.version)
    backend = LocalBackend(layout, MODEL, registry, free_port(), latency_budget_ms=1000)
    status = backend.start(job.version)
    deadline = time.time() + 120
    while not status.ready and time.time() < deadline:
        time.sleep(0.5)
        status = backend.status()
    if not status.ready or not status.url:
        backend.stop()
        raise RuntimeError(f"the churn service did not become ready: {status}")
    return ServedHome(layout, backend, status.url, split_frame(data, SPEC.schema).test)


@dataclass
class Traffic:
    """A thread posting ``batch`` records to /predict every ``interval_s``; ``drift`` scales day minutes by 1.25
    (the covariate_drift scenario's fault), so every triage window holds an ongoing incident."""

    url: str
    pool: pd.DataFrame
    batch: int = 10
    interval_s: float = 0.25
    drift: bool = False
    sent: int = 0
    failed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._loop, name="soak-traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        rng = np.random.default_rng(0)
        features = self.pool.drop(columns=[SPEC.schema.label])
        high = next(c.high for c in SPEC.schema.columns if c.name == "total_day_minutes")
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self._stop.wait(self.interval_s):
                rows = features.iloc[rng.integers(0, len(features), self.batch)].copy()
                if self.drift:
                    rows["total_day_minutes"] = (rows["total_day_minutes"] * 1.25).clip(upper=high)
                rows["customer_id"] = [f"soak-{self.sent}-{j}" for j in range(self.batch)]
                try:
                    ok = client.post("/predict", json={"records": rows.to_dict("records")}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.sent += 1
                self.failed += not ok



@dataclass
class BusyLoad:
    """``n`` busy loops, each its own Python process at the default priority, from ``start`` to ``stop``: a soak
    on a machine whose cores other work keeps busy (as a shared host's are) is reproducible this way."""

    n: int
    _loops: list[subprocess.Popen] = field(default_factory=list)

    def start(self) -> BusyLoad:
        self._loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        return self

    def stop(self) -> None:
        for loop in self._loops:
            loop.kill()
            loop.wait(10)
        self._loops = []
