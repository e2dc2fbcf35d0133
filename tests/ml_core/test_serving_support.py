"""Registered model versions for the serving and deploy tests, trained once per test session.

Training takes tens of seconds, so one base home is built per session (a real MLflow registry on
SQLite holding real versions) and each test module copies it: the copy's registry points at the
base's artifact store, which nothing modifies.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.jobs import train_and_register
from ml_core.model import TabularModel
from ml_core.paths import HomeLayout
from ml_core.registry import Registry
from ml_core.release import register_model_bundle
from ml_core.release_fault import Fault
from ml_core.serving.app import create_app
from ml_core.serving.server import ThreadedServer
from ml_core.serving.state import DeploymentState, write_state
from ml_core.training import TrainConfig

MODEL = "churn"
GOOD, GOOD2, BROKEN, SLOW, UNLOADABLE = "1", "2", "3", "4", "5"
SLOW_MS = 1500.0  # far past the budget, so a loaded CI machine still shows the timeout


@dataclass(frozen=True)
class BaseHome:
    home: Path
    data: pd.DataFrame
    model: TabularModel

    def records(self, n: int = 1, start: int = 0) -> list[dict]:
        return self.data.drop(columns=["churn"]).iloc[start:start + n].to_dict("records")

    def copy_to(self, dst: Path) -> HomeLayout:
        shutil.copytree(self.home, dst, ignore=shutil.ignore_patterns("predictions", "deploy", "model-cache"))
        return HomeLayout(dst).ensure()


_BASE: BaseHome | None = None


def base_home() -> BaseHome:
    """Versions: 1 trained; 2 a copy with another threshold; 3 always raises; 4 sleeps SLOW_MS;
    5 an artifact whose preprocessor does not match its network (fails readiness)."""
    global _BASE
    if _BASE is None:
        home = Path(tempfile.mkdtemp(prefix="opsagent-serving-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        layout = HomeLayout(home).ensure()
        reg = Registry(layout)
        data = load_churn()
        res = train_and_register(reg, data, TrainConfig(epochs=2), model_name=MODEL, schema=CHURN_SCHEMA)
        assert res.version == GOOD
        model = reg.load(MODEL, GOOD)
        good2 = copy.deepcopy(model)
        good2.threshold = min(0.9, model.threshold + 0.05)
        register_model_bundle(reg, MODEL, good2, {"parent_version": GOOD}, run_name="good2")
        broken = copy.deepcopy(model)
        broken.fault = Fault(error_rate=1.0)
        register_model_bundle(reg, MODEL, broken, {"parent_version": GOOD}, run_name="broken")
        slow = copy.deepcopy(model)
        slow.fault = Fault(latency_ms=SLOW_MS)
        register_model_bundle(reg, MODEL, slow, {"parent_version": GOOD}, run_name="slow")
        bad = copy.deepcopy(model)
        bad.preprocessor.numeric = bad.preprocessor.numeric[:-1]  # one input short of what the net expects
        bad.preprocessor.mean, bad.preprocessor.std = bad.preprocessor.mean[:-1], bad.preprocessor.std[:-1]
        register_model_bundle(reg, MODEL, bad, {"parent_version": GOOD}, run_name="unloadable")
        reg.mark_ready(MODEL, GOOD)
        reg.mark_ready(MODEL, GOOD2)
        _BASE = BaseHome(home, data, model)
    return _BASE


@contextlib.contextmanager
def serve(layout: HomeLayout, state: DeploymentState | None, *, wait_ready: bool = True,
          autoload: bool = True) -> Iterator[tuple[ThreadedServer, httpx.Client, Path]]:
    state_file = layout.deploy_dir / f"test-{time.monotonic_ns()}.json"
    if state is not None:
        write_state(state_file, state)
    app = create_app(layout, MODEL, state_file=state_file, autoload=autoload, seed=0)
    with ThreadedServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as client:
        if wait_ready:
            deadline = time.monotonic() + 60
            while client.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, client.get("/ready").json()
                time.sleep(0.05)
        yield srv, client, state_file
