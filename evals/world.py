"""Build one scenario's world with the real ML core: a trained champion, a served model, traffic with the fault.

Training once per scenario would dominate the benchmark, so one *template* home is trained per model (a
spec: the churn demo, the credit table, or a spec file a scenario names) and copied for each world of that
model (MLflow keeps absolute artifact paths in its SQLite file; the copy rewrites them so each world writes
only into its own folder). A world then deploys the champion with the local backend on
a free port, and each scheduled tick sends one tick of traffic and delivers its labels: tick 0 is quiet;
from tick 1 the scenario's faults are on (a release fault is shipped just before tick 1's traffic; a service
crash kills the scoring process part-way through tick 1's traffic). The service is always stopped when the world
closes.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd

from agent.audit import AuditLog, audit_deploy_override
from evals.scenario_faults import BadModelRelease, HealthyRelease
from evals.scenario_model import EvalScenario
from ml_core.baseline import SimpleBaseline
from ml_core.data.tables import split_frame
from ml_core.deploy.base import DeploymentError
from ml_core.deploy.local import LocalBackend
from ml_core.jobs import train_and_register
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.registry import CHAMPION, Registry
from ml_core.release import register_model_bundle
from ml_core.serving.server import free_port
from ml_core.simulator.release import ship_faulty_release
from ml_core.simulator.scenario import BrokenRelease, SlowRelease
from ml_core.simulator.traffic import TrafficResult, deliver_labels, run_traffic
from ml_core.spec.data import load_spec_data
from ml_core.spec.model_spec import ModelSpec
from ml_core.spec.store import SpecStore
from ml_core.training import TrainConfig

DEFAULT_LATENCY_BUDGET_MS = 250.0  # the budget the release scenarios are written against, unless a spec sets one
READY_TIMEOUT_S = 180.0  # a loaded two-core machine can take a while to import torch and load the model
# Who the audit log names for a scenario's release: no gate judged it, so a person forced it past the deploy gate.
RELEASER = "opsagent eval (simulating the person who forced the release)"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Template:
    """A trained home to copy: ``model``'s ``version`` is champion, its spec saved, a fallback baseline beside it."""

    home: Path
    version: str
    test_metrics: dict[str, float]
    train_seconds: float
    model: str = "churn"


def train_config(spec: ModelSpec, epochs: int, **overrides: int) -> TrainConfig:
    """The training config of a model's champion (or of a bad release of it), as `opsagent train` builds it."""
    return TrainConfig(epochs=epochs, exclude_columns=tuple(spec.exclude_from_training), **overrides)


def build_template(root: Path, spec: ModelSpec, *, epochs: int = 30,
                   progress: Progress = lambda _m: None) -> Template:
    """Train the spec's v1 once (PyTorch, MLflow on SQLite), alias it champion and save the fallback baseline."""
    started = time.time()
    layout = HomeLayout(root).ensure()
    SpecStore(layout).save(spec)  # every world reads its model's spec from its own home, as the agent does
    registry = Registry(layout)
    data = load_spec_data(spec)
    progress(f"training the {spec.name} champion shared by its worlds ({epochs} epochs)")
    job = train_and_register(registry, data, train_config(spec, epochs), model_name=spec.name, schema=spec.schema,
                             run_name="eval-v1", with_baseline=False)
    registry.set_alias(spec.name, CHAMPION, job.version)
    registry.mark_ready(spec.name, job.version)
    # Timeouts fall back to it.
    SimpleBaseline.fit(job.split.train, spec.schema).save(layout.deploy_dir / f"{spec.name}.baseline")
    return Template(layout.home, job.version, dict(job.test_metrics), time.time() - started, spec.name)


def copy_home(template: Path, dest: Path) -> HomeLayout:
    """Copy a home folder and point its MLflow records at the copy's own artifact folder."""
    shutil.copytree(template, dest)
    layout = HomeLayout(dest)
    old, new = template.resolve().as_uri(), dest.resolve().as_uri()
    old_path, new_path = str(template.resolve()), str(dest.resolve())
    with sqlite3.connect(layout.mlflow_db) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            cols = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")') if "CHAR" in r[2].upper()
                    or "TEXT" in r[2].upper()]
            for col in cols:
                for a, b in ((old, new), (old_path, new_path)):
                    db.execute(f'UPDATE "{table}" SET "{col}" = REPLACE("{col}", ?, ?) WHERE "{col}" LIKE ?',
                               (a, b, f"%{a}%"))
    return layout.ensure()


def joint_shifted(pool: pd.DataFrame, scenario: EvalScenario, rng: np.random.Generator) -> pd.DataFrame:
    """The pool with each joint shift applied: the ``follow`` columns re-paired by rank to rise with ``lead``.
    Each column keeps exactly its values (its marginal distribution); only which customer has which changes."""
    out = pool.copy()
    for shift in scenario.joint_shifts:
        lead = out[shift.lead].to_numpy(float)
        rank = np.argsort(np.argsort(lead + rng.random(len(out)) * 1e-9, kind="stable"), kind="stable")
        for name in shift.follow:
            out[name] = np.sort(out[name].to_numpy())[rank]
    return out


class World:
    """One scenario's served world. Use as a context manager: the service stops on exit, always."""

    def __init__(self, scenario: EvalScenario, template: Template, root: Path, *,
                 progress: Progress = lambda _m: None):
        self.scenario = scenario
        self.template = template
        self.progress = progress
        self.model = template.model
        self.layout = copy_home(template.home, root)
        self.spec = SpecStore(self.layout).get(self.model)
        self.schema = self.spec.schema
        self.registry = Registry(self.layout)
        self.backend = LocalBackend(self.layout, self.model, self.registry, free_port(),
                                    latency_budget_ms=self.spec.slo.latency_budget_ms or DEFAULT_LATENCY_BUDGET_MS,
                                    start_timeout_s=READY_TIMEOUT_S)
        scenario.traffic_scenario(1).check_features(self.schema, self.model)  # a spec file edited since loading
        self.data = load_spec_data(self.spec)
        self.pool = split_frame(self.data, self.schema).test  # customers the champion never trained on
        self.fault_pool = joint_shifted(self.pool, scenario, np.random.default_rng(scenario.traffic.seed))
        self.released: str | None = None  # the version the scenario shipped, for culprit "@release"
        self.url = ""

    def __enter__(self) -> World:
        try:
            self.url = self._start()
        except BaseException:
            self.backend.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.backend.stop()

    def _start(self) -> str:
        status = self.backend.start(self.template.version)  # waits for readiness (start_timeout_s)
        if not status.ready or not status.url:
            raise DeploymentError(f"the service did not become ready: {status.ready_reason or status.detail}")
        return status.url

    # ---- ticks ---------------------------------------------------------------------------------
    def tick(self, n: int) -> TrafficResult:
        """Tick ``n``'s traffic (faults on from tick 1; the release shipped before tick 1), labels delivered."""
        if n == 1:
            self.released = self.ship_release()
            if (crash := self.scenario.crash) is not None:
                return self._send_through_crash(n, crash.split(self.scenario.traffic.requests))
        return self.send(n)

    def _send_through_crash(self, n: int, before: int) -> TrafficResult:
        """Tick ``n``'s traffic with the scoring process SIGKILLed after ``before`` requests (no restart): the
        requests after it fail to connect. One result: the two halves' counts and labels together."""
        t = self.scenario.traffic
        first = self.send(n, requests=before)
        pid = self.backend.status().pid
        if pid is None:
            raise DeploymentError("the scoring service was not running when the scenario's crash was due")
        os.kill(pid, signal.SIGKILL)
        self.progress(f"killed the scoring process {pid} (SIGKILL) after {before} of {t.requests} requests")
        rest = self.send(n, seed_offset=500, requests=t.requests - before)
        first.sent, first.ok, first.failed = first.sent + rest.sent, first.ok + rest.ok, first.failed + rest.failed
        first.rejected += rest.rejected
        first.errors += rest.errors
        first.finished = rest.finished
        return first

    def send(self, n: int, *, seed_offset: int = 0, requests: int | None = None) -> TrafficResult:
        """One tick of traffic as tick ``n`` would send it (or ``requests`` of it), with its labels delivered."""
        scenario = self.scenario.traffic_scenario(n)
        if seed_offset:
            scenario = scenario.model_copy(update={"seed": scenario.seed + seed_offset})
        if requests is not None:
            scenario = scenario.model_copy(update={"requests": requests})
        result = run_traffic(self.url, scenario, self.pool if n == 0 else self.fault_pool, schema=self.schema)
        with PredictionLog(self.layout.predictions_db(self.model)) as log:
            deliver_labels(log, result)
        return result

    def ship_release(self) -> str | None:
        """Ship the scenario's release, if any, and return its version."""
        spec = self.scenario.release
        if spec is None:
            return None
        if isinstance(spec, SlowRelease | BrokenRelease):
            version = ship_faulty_release(self.scenario.traffic_scenario(1), self.registry, self.backend,
                                          self.model)
            self._audit_override(version)
            self.progress(f"shipped faulty release v{version} ({spec.kind})")
            return version
        if isinstance(spec, HealthyRelease):
            model = self.registry.load(self.model, self.template.version)
            info = register_model_bundle(self.registry, self.model, model, run_name=f"release-{self.scenario.name}",
                                         tags={"parent_version": self.template.version})
            self.backend.deploy_canary(info.version, spec.canary_weight, force=True,
                                       reason=f"release of scenario {self.scenario.name}, shipped without the gate")
            self._audit_override(info.version)
            self.progress(f"shipped healthy release v{info.version} as a {spec.canary_weight:.0%} canary")
            return info.version
        return self._ship_bad_model(spec)

    def _ship_bad_model(self, spec: BadModelRelease) -> str:
        """Train on labels a broken join shuffled, register it, ship it (and promote it, as the release did)."""
        data, label_column = self.data, self.schema.label
        rng = np.random.default_rng(self.scenario.traffic.seed)
        label = data[label_column].to_numpy().copy()
        idx = np.flatnonzero(rng.random(len(data)) < spec.shuffled_share)
        label[idx] = rng.permutation(label[idx])
        bad = data.copy()
        bad[label_column] = pd.Series(label, index=data.index)
        job = train_and_register(self.registry, bad, train_config(self.spec, spec.epochs, patience=spec.epochs),
                                 model_name=self.model, schema=self.schema, run_name=f"release-{self.scenario.name}",
                                 with_baseline=False, parent_version=self.template.version)
        self.backend.deploy_canary(job.version, spec.canary_weight, force=True,
                                   reason=f"release of scenario {self.scenario.name}, shipped without the gate")
        self._audit_override(job.version)
        if spec.promote:
            self.backend.promote()
        self.progress(f"shipped bad model v{job.version} (test F1 {job.test_metrics.get('f1', 0):.3f})"
                      + (" and promoted it" if spec.promote else ""))
        return job.version

    def _audit_override(self, version: str | None) -> None:
        """Audit the forced release in the world's approvals database, as the CLI audits a person's ``--force``."""
        forced = [o for o in self.backend.status().overrides if o.version == version]
        if forced:
            with AuditLog(self.layout.approvals_db) as log:
                audit_deploy_override(log, self.model, forced[-1], actor=RELEASER, via="cli")
