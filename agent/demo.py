"""`opsagent demo` — the seed story on the ML core, offline, in a few minutes on a laptop CPU.

train v1 → deploy → normal traffic (quiet) → drift in one feature → scheduled check detects it →
retrain on the recent window → gate → canary at 10 % → canary healthy → promote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent.memory import Memory
from ml_core.baseline import SimpleBaseline
from ml_core.data.churn import load_churn, split_frame
from ml_core.deploy.base import DeploymentError
from ml_core.deploy.local import LocalBackend
from ml_core.gate import GatePolicy
from ml_core.jobs import train_and_register
from ml_core.paths import HomeLayout
from ml_core.pipeline import RetrainRequest, retrain
from ml_core.predlog import PredictionLog
from ml_core.registry import CHAMPION, Registry
from ml_core.serving.server import free_port
from ml_core.simulator.scenario import load_scenario
from ml_core.simulator.traffic import deliver_labels, run_traffic
from ml_core.training import EpochCallback, TrainConfig
from ml_core.watch import WatchResult, check_window


@dataclass
class DemoResult:
    champion_before: str
    champion_after: str | None
    detected: list[str]
    report_dir: Path | None
    retrain_version: str | None
    gate_passed: bool
    promoted: bool
    seconds: float
    artifacts: dict[str, str] = field(default_factory=dict)


class Narrator:
    """What the demo tells the user; the CLI renders it with rich."""

    def step(self, title: str) -> None: ...
    def info(self, message: str) -> None: ...
    def check(self, watched: WatchResult) -> None: ...
    def progress(self, label: str, total: int) -> Callable[[int, int], None]:
        return lambda done, total: None
    def epochs(self, label: str, total: int) -> EpochCallback:
        return lambda epoch, total, row: None


def run_demo(layout: HomeLayout, narrator: Narrator, *, model_name: str = "churn", epochs: int = 40,
             requests: int = 100, port: int | None = None, keep_serving: bool = False) -> DemoResult:
    start = time.time()
    registry = Registry(layout)
    data = load_churn()
    pool = split_frame(data).test  # customers the model never trained on

    narrator.step("1. Train churn v1 (PyTorch, logged to MLflow) and register it as champion")
    job = train_and_register(registry, data, TrainConfig(epochs=epochs), model_name=model_name,
                             on_epoch=narrator.epochs("training v1", epochs), run_name="demo-v1")
    registry.set_alias(model_name, CHAMPION, job.version)
    registry.mark_ready(model_name, job.version)
    # The service's fallback of last resort when every model version fails.
    SimpleBaseline.fit(job.split.train).save(layout.deploy_dir / f"{model_name}.baseline")
    narrator.info(f"v{job.version}: test AUC {job.test_metrics['auc']:.3f}, F1 {job.test_metrics['f1']:.3f} "
                  f"(run {job.run_id[:12]})")

    narrator.step("2. Deploy v1 with the local backend (a real service process on loopback)")
    backend = LocalBackend(layout, model_name, registry, port or free_port(), latency_budget_ms=250)
    log = PredictionLog(layout.predictions_db(model_name))
    try:
        status = backend.start(job.version)
        deadline = time.time() + 180  # a loaded machine can take a while to load torch and the model
        while not status.ready and status.running and time.time() < deadline:
            time.sleep(1)
            status = backend.status()
        if not status.ready or status.url is None:
            raise DeploymentError(f"the service did not become ready: {status.ready_reason or status.detail}")
        url = status.url
        narrator.info(f"serving at {status.url} — ready: {status.ready}")
        narrator.step("3. Ordinary traffic, then a scheduled check: should be quiet")
        t0 = time.time()
        normal = load_scenario("no_fault").model_copy(update={"requests": requests})
        deliver_labels(log, run_traffic(url, normal, pool, progress=narrator.progress("traffic", requests)))
        quiet = check_window(layout, registry, model_name, since=t0, until=time.time() + 1, write_report=False)
        narrator.check(quiet)

        narrator.step("4. Day-time usage rises 25 % (a new plan): drift starts in one feature")
        t1 = time.time()
        drift = load_scenario("covariate_drift").model_copy(update={"requests": requests})
        deliver_labels(log, run_traffic(url, drift, pool, progress=narrator.progress("traffic", requests)))
        narrator.step("5. Scheduled check: detect, name the feature, write the Evidently report")
        found = check_window(layout, registry, model_name, since=t1, until=time.time() + 1)
        narrator.check(found)
        detected = found.result.drifted_features

        narrator.step("6. Retrain on the original data plus the drifted window; gate against v1 on F1")
        outcome = retrain(registry, log, RetrainRequest(
            model_name=model_name, window_since=t1, window_until=time.time() + 1,
            config=TrainConfig(epochs=epochs, seed=11), reason=f"drift in {', '.join(detected) or 'traffic'}",
            # Gate on the metric that dropped: the retrain must win back F1 at its operating point,
            # while no slice may lose more than 0.05 AUC.
            policy=GatePolicy(metric="f1", min_gain=0.01)),
            on_epoch=narrator.epochs(f"training v{int(job.version) + 1}", epochs), on_step=narrator.info)
        promoted = False
        if outcome.verdict.passed:
            narrator.step(f"7. Canary: v{outcome.version} gets 10 % of traffic; watch it, then promote")
            backend.deploy_canary(outcome.version, 0.1)
            t2 = time.time()
            deliver_labels(log, run_traffic(url, drift.model_copy(update={"seed": 8}), pool,
                                            progress=narrator.progress("canary traffic", requests)))
            canary = check_window(layout, registry, model_name, since=t2, until=time.time() + 1, write_report=False)
            slo_bad = [f for f in canary.result.findings if f.kind in ("latency_slo", "error_rate_slo")]
            if slo_bad:
                narrator.info("canary breaks its SLOs: rolling back")
                backend.rollback()
            else:
                status = backend.promote()
                promoted = True
                narrator.info(f"canary healthy — promoted: champion is now v{status.champion}")
        else:
            narrator.info("the gate refused the new version; v1 stays champion")
    finally:
        log.close()
        if not keep_serving:
            backend.stop()
    memory = Memory(layout.memory_dir)
    finding_text = "; ".join(f"{f.kind} {f.subject}: {f.message}" for f in found.result.findings)
    incident = memory.record("incident", f"{model_name} v{job.version}: {finding_text}", model=model_name,
                             metadata={"version": job.version, "drifted": ", ".join(detected),
                                       "report": str(found.report_dir or "")})
    memory.record("outcome", f"retrained {model_name} v{outcome.version} on the drifted window; gate "
                  f"{'passed' if outcome.verdict.passed else 'failed'} ({'; '.join(outcome.verdict.reasons)}); "
                  f"{'promoted after a healthy 10% canary' if promoted else 'not promoted'}",
                  model=model_name, metadata={"incident": incident, "version": outcome.version,
                                              "run_id": outcome.run_id, "fixed": promoted})
    narrator.info(f"remembered incident {incident} and its outcome (opsagent memory search)")
    champion = registry.alias(model_name, CHAMPION)
    return DemoResult(
        champion_before=job.version, champion_after=champion.version if champion else None, detected=detected,
        report_dir=found.report_dir, retrain_version=outcome.version, gate_passed=outcome.verdict.passed,
        promoted=promoted, seconds=time.time() - start,
        artifacts={"MLflow runs and registry": str(layout.mlflow_db),
                   "Evidently drift report": str(found.report.html if found.report else "-"),
                   "prediction log": str(layout.predictions_db(model_name)),
                   "memory (ChromaDB)": str(layout.memory_dir),
                   "deployment state": str(layout.deploy_dir / f"{model_name}.json"),
                   "service log": str(layout.deploy_dir / f"{model_name}.log")})
