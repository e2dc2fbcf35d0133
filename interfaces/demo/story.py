"""`opsagent demo` — the seed story, offline, in a few minutes on a laptop CPU.

train v1 → deploy → ordinary traffic → scheduled triage (quiet) → drift in one feature → scheduled
triage: detect, recall memory, post-mortem, retrain proposal → approval (on the user's behalf, or asked
with --interactive) → remediation: retrain, gate, 10 % canary, watch, promote → outcome remembered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.context import OpsContext
from agent.memory import Memory
from agent.proposals import HumanResponse
from agent.settings import Settings
from interfaces.demo.narrator import Narrator
from ml_core.baseline import SimpleBaseline
from ml_core.data.churn import load_churn, split_frame
from ml_core.deploy.base import DeploymentError
from ml_core.deploy.local import LocalBackend
from ml_core.jobs import train_and_register
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.registry import CHAMPION, Registry
from ml_core.serving.server import free_port
from ml_core.simulator.scenario import Scenario, load_scenario
from ml_core.simulator.traffic import deliver_labels, run_traffic
from ml_core.training import EpochCallback, TrainConfig

# Decides on the proposal: returns the answer (accept/edit/response/ignore) given the proposal id.
Approver = Callable[[str], HumanResponse]


@dataclass
class DemoResult:
    champion_before: str
    champion_after: str | None
    detected: list[str]
    incident_id: str | None
    proposal_id: str | None
    postmortem: str | None
    brain: str
    decision: str
    retrain_version: str | None
    gate_passed: bool
    promoted: bool
    outcome: str
    seconds: float
    seconds_drift_to_promoted: float | None
    artifacts: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[str, float]] = field(default_factory=list)  # (title, seconds since the start) of each step


def auto_approve(_proposal_id: str) -> HumanResponse:
    return HumanResponse(type="accept", by="demo (on your behalf)", via="demo")


def run_demo(layout: HomeLayout, narrator: Narrator, *, model_name: str = "churn", epochs: int = 40,
             requests: int = 100, port: int | None = None, keep_serving: bool = False,
             approver: Approver = auto_approve, settings: Settings | None = None) -> DemoResult:
    from graphs.runner import GraphRunner

    start = time.time()
    steps: list[tuple[str, float]] = []
    narrator = _Timed(narrator, steps, start)
    layout.ensure()
    settings = (settings or Settings()).model_copy(update={"home": layout.home, "model_name": model_name})
    registry = Registry(layout, settings.mlflow_tracking_uri)
    data = load_churn()
    pool = split_frame(data).test  # customers the model never trained on

    narrator.step("1. Train churn v1 (PyTorch, logged to MLflow) and register it as champion")
    job = train_and_register(registry, data, TrainConfig(epochs=epochs), model_name=model_name,
                             on_epoch=narrator.epochs("training v1", epochs), run_name="demo-v1")
    registry.set_alias(model_name, CHAMPION, job.version)
    registry.mark_ready(model_name, job.version)
    SimpleBaseline.fit(job.split.train).save(layout.deploy_dir / f"{model_name}.baseline")  # last-resort fallback
    narrator.info(f"v{job.version}: test AUC {job.test_metrics['auc']:.3f}, F1 {job.test_metrics['f1']:.3f} "
                  f"(run {job.run_id[:12]})")
    memory = Memory(layout.memory_dir)
    memory.record("training_run", f"{model_name} v{job.version} trained for the demo: test AUC "
                  f"{job.test_metrics['auc']:.3f}, F1 {job.test_metrics['f1']:.3f}", model=model_name,
                  metadata={"version": job.version, "run_id": job.run_id})

    narrator.step("2. Deploy v1 with the local backend (a real service process on loopback)")
    # A loaded machine can take a while to import torch and load the model: start() waits up to 180 s.
    backend = LocalBackend(layout, model_name, registry, port or free_port(), latency_budget_ms=250,
                           start_timeout_s=180)
    drift = load_scenario("covariate_drift").model_copy(update={"requests": requests})

    def traffic(url: str, scenario: Scenario, label: str) -> None:
        with PredictionLog(layout.predictions_db(model_name)) as log:
            deliver_labels(log, run_traffic(url, scenario, pool, progress=narrator.progress(label, scenario.requests)))

    def canary_traffic(url: str, _seconds: float) -> None:
        traffic(url, drift.model_copy(update={"seed": 8}), "canary traffic")

    ctx = OpsContext(settings, via="demo", actor="opsagent-demo", canary_traffic=canary_traffic,
                     progress=narrator.info)
    try:
        url = _start(backend, job.version)
        narrator.info(f"serving at {url}")
        with GraphRunner(ctx) as runner:
            narrator.step("3. Ordinary traffic, then a scheduled triage: should be quiet")
            t0 = time.time()
            traffic(url, load_scenario("no_fault").model_copy(update={"requests": requests}), "traffic")
            quiet = runner.triage(model_name, window_minutes=(time.time() - t0) / 60 + 0.01)
            narrator.info(f"triage {'found ' + quiet.diagnosis.category if quiet.diagnosis.detected else 'is quiet'}"
                          f": {quiet.summary.splitlines()[0]}")

            narrator.step("4. Day-time usage rises 25 % (a new plan): drift starts in one feature")
            t1 = time.time()
            traffic(url, drift, "traffic")

            narrator.step("5. Scheduled triage: detect, recall memory, diagnose, post-mortem, retrain proposal")
            found = runner.triage(model_name, window_minutes=(time.time() - t1) / 60 + 0.01)
            d = found.diagnosis
            narrator.info(f"{found.incident_id}: {d.category} → {d.action} (culprit {', '.join(d.culprit) or '-'}); "
                          f"brain: {d.brain}; {found.usage}")

            decision, outcome, promoted, new_version, gate_passed = "none", "no proposal", False, None, False
            promoted_at = None
            if found.proposal_id:
                narrator.step(f"6. Approval: proposal {found.proposal_id}")
                answer = approver(found.proposal_id)
                decision = f"{answer.type} by {answer.by}"
                narrator.info(f"answer: {decision}")
                narrator.step("7. Remediation: retrain → gate → 10 % canary → watch → promote or roll back")
                done = runner.answer(found.proposal_id, answer)
                outcome = done.outcome
                new_version = done.result.get("version")
                gate_passed = bool(done.result.get("gate_passed"))
                promoted = bool(done.verified)
                promoted_at = time.time()
                narrator.info(f"{done.status}: {outcome}")
    finally:
        if not keep_serving:
            backend.stop()
    champion = registry.alias(model_name, CHAMPION)
    narrator.step("8. Remembered: the incident and its outcome are in memory for the next triage")
    recalled = memory.search(f"{', '.join(d.culprit)} drift", model=model_name, k=2)
    for hit in recalled:
        narrator.info(f"memory {hit.id} ({hit.kind}, similarity {hit.similarity:.2f}): {hit.text[:120]}")
    end = time.time()
    return DemoResult(
        champion_before=job.version, champion_after=champion.version if champion else None, detected=d.culprit,
        incident_id=found.incident_id if d.detected else None, proposal_id=found.proposal_id,
        postmortem=found.postmortem, brain=d.brain, decision=decision, retrain_version=new_version,
        gate_passed=gate_passed, promoted=promoted, outcome=outcome, seconds=end - start,
        seconds_drift_to_promoted=(promoted_at - t1) if promoted and promoted_at else None,
        artifacts={"post-mortem": found.postmortem or "-",
                   "approvals and audit log": str(layout.approvals_db),
                   "graph checkpoints": str(layout.checkpoints_db),
                   "MLflow runs and registry": str(layout.mlflow_db),
                   "prediction log": str(layout.predictions_db(model_name)),
                   "memory (ChromaDB)": str(layout.memory_dir),
                   "deployment state": str(layout.deploy_dir / f"{model_name}.json"),
                   "service log": str(layout.deploy_dir / f"{model_name}.log")},
        steps=steps)


class _Timed(Narrator):
    """Passes everything to the narrator and notes when each step starts (for `opsagent demo --timings`)."""

    def __init__(self, inner: Narrator, marks: list[tuple[str, float]], start: float):
        self.inner, self.marks, self.start = inner, marks, start

    def step(self, title: str) -> None:
        self.marks.append((title, round(time.time() - self.start, 3)))
        self.inner.step(title)

    def info(self, message: str) -> None:
        self.inner.info(message)

    def progress(self, label: str, total: int) -> Callable[[int, int], None]:
        return self.inner.progress(label, total)

    def epochs(self, label: str, total: int) -> EpochCallback:
        return self.inner.epochs(label, total)


def _start(backend: LocalBackend, version: str) -> str:
    status = backend.start(version)  # waits for readiness (start_timeout_s)
    if not status.ready or status.url is None:
        raise DeploymentError(f"the service did not become ready: {status.ready_reason or status.detail}")
    return status.url
