"""`opsagent demo` — the seed story, offline, in a few minutes on a laptop CPU.

train v1 → deploy → ordinary traffic → scheduled triage (quiet) → drift in one feature → scheduled
triage: detect, recall memory, post-mortem, retrain proposal → approval (on the user's behalf, or asked
with --interactive) → remediation: retrain, gate, 10 % canary, watch, promote → outcome remembered.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from agent.context import OpsContext
from agent.proposals import Accept, HumanResponse
from agent.settings import Settings
from graphs.runner import GraphRunner, TriageOutcome
from interfaces.demo.narrator import Narrator
from ml_core.baseline import SimpleBaseline
from ml_core.data.tables import split_frame
from ml_core.deploy.base import DeploymentError
from ml_core.deploy.local import LocalBackend
from ml_core.jobs import TrainJobResult, train_and_register
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.registry import CHAMPION
from ml_core.serving.server import free_port
from ml_core.simulator.scenario import Scenario, load_scenario
from ml_core.simulator.traffic import deliver_labels, run_traffic
from ml_core.spec.data import load_spec_data
from ml_core.spec.store import SpecStore
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
    return Accept(by="demo (on your behalf)", via="demo")


@dataclass
class _Remediation:
    """What steps 6 and 7 came to."""

    decision: str = "none"
    outcome: str = "no proposal"
    promoted: bool = False
    version: str | None = None
    gate_passed: bool = False
    promoted_at: float | None = None


class _Story:
    """One demo run: the world it builds (home, registry, customers) and its steps, told by the narrator."""

    def __init__(self, layout: HomeLayout, narrator: Narrator, settings: Settings, model_name: str, requests: int):
        self.layout, self.narrator, self.model_name = layout, narrator, model_name
        self.settings = settings.model_copy(update={"home": layout.home, "model_name": model_name})
        self.registry = self.settings.open_registry()
        self.spec = SpecStore(layout).get(model_name)  # the demo's churn spec, written on first use
        self.schema = self.spec.schema
        self.data = load_spec_data(self.spec)
        self.pool = split_frame(self.data, self.schema).test  # customers the model never trained on
        self.requests = requests
        self.drift = load_scenario("covariate_drift").model_copy(update={"requests": requests})
        self.memory = self.settings.open_memory()

    def train_v1(self, epochs: int) -> TrainJobResult:
        self.narrator.step("1. Train churn v1 (PyTorch, logged to MLflow) and register it as champion")
        name = self.model_name
        config = TrainConfig(epochs=epochs, exclude_columns=tuple(self.spec.exclude_from_training))
        with self.narrator.epochs("training v1", epochs) as on_epoch:
            job = train_and_register(self.registry, self.data, config, model_name=name, schema=self.schema,
                                     on_epoch=on_epoch, run_name="demo-v1")
        self.registry.set_alias(name, CHAMPION, job.version)
        self.registry.mark_ready(name, job.version)
        fallback = SimpleBaseline.fit(job.split.train, self.schema)  # the service's last-resort fallback
        fallback.save(self.layout.deploy_dir / f"{name}.baseline")
        metrics = f"test AUC {job.test_metrics['auc']:.3f}, F1 {job.test_metrics['f1']:.3f}"
        self.narrator.info(f"v{job.version}: {metrics} (run {job.run_id[:12]})")
        self.memory.record("training_run", f"{name} v{job.version} trained for the demo: {metrics}", model=name,
                           metadata={"version": job.version, "run_id": job.run_id})
        return job

    def traffic(self, url: str, scenario: Scenario, label: str) -> None:
        """Customers from the held-out pool against the service; their labels arrive afterwards."""
        with self.narrator.progress(label, scenario.requests) as progress:
            sent = run_traffic(url, scenario, self.pool, schema=self.schema, progress=progress)
        with PredictionLog(self.layout.predictions_store(self.model_name)) as log:
            deliver_labels(log, sent)

    def canary_traffic(self, url: str, _seconds: float) -> None:
        self.traffic(url, self.drift.model_copy(update={"seed": 8}), "canary traffic")

    def quiet_triage(self, runner: GraphRunner, url: str) -> None:
        self.narrator.step("3. Ordinary traffic, then a scheduled triage: should be quiet")
        t0 = time.time()
        self.traffic(url, load_scenario("no_fault").model_copy(update={"requests": self.requests}), "traffic")
        quiet = runner.triage(self.model_name, window_minutes=(time.time() - t0) / 60 + 0.01)
        found = "found " + quiet.diagnosis.category if quiet.diagnosis.detected else "is quiet"
        self.narrator.info(f"triage {found}: {quiet.summary.splitlines()[0]}")

    def drift_triage(self, runner: GraphRunner, url: str) -> tuple[TriageOutcome, float]:
        """Steps 4 and 5: drifted traffic, then the triage that catches it; returns it and the drift's onset."""
        self.narrator.step("4. Day-time usage rises 25 % (a new plan): drift starts in one feature")
        onset = time.time()
        self.traffic(url, self.drift, "traffic")
        self.narrator.step("5. Scheduled triage: detect, recall memory, diagnose, post-mortem, retrain proposal")
        found = runner.triage(self.model_name, window_minutes=(time.time() - onset) / 60 + 0.01)
        d = found.diagnosis
        self.narrator.info(f"{found.incident_id}: {d.category} → {d.action} (culprit {', '.join(d.culprit) or '-'});"
                           f" brain: {d.brain}; {found.usage}")
        return found, onset

    def remediate(self, runner: GraphRunner, proposal_id: str | None, approver: Approver) -> _Remediation:
        """Steps 6 and 7: the answer to the proposal, and the remediation it starts."""
        if not proposal_id:
            return _Remediation()
        self.narrator.step(f"6. Approval: proposal {proposal_id}")
        answer = approver(proposal_id)
        decision = f"{answer.type} by {answer.by}"
        self.narrator.info(f"answer: {decision}")
        self.narrator.step("7. Remediation: retrain → gate → 10 % canary → watch → promote or roll back")
        done = runner.answer(proposal_id, answer)
        self.narrator.info(f"{done.status}: {done.outcome}")
        return _Remediation(decision=decision, outcome=done.outcome, promoted=bool(done.verified),
                            version=done.result.get("version"), gate_passed=bool(done.result.get("gate_passed")),
                            promoted_at=time.time())

    def remembered(self, culprit: list[str]) -> None:
        self.narrator.step("8. Remembered: the incident and its outcome are in memory for the next triage")
        for hit in self.memory.search(f"{', '.join(culprit)} drift", model=self.model_name, k=2):
            self.narrator.info(f"memory {hit.id} ({hit.kind}, similarity {hit.similarity:.2f}): {hit.text[:120]}")

    def artifacts(self, postmortem: str | None) -> dict[str, str]:
        layout, name = self.layout, self.model_name
        return {"post-mortem": postmortem or "-", "approvals and audit log": str(layout.approvals_db),
                "graph checkpoints": str(layout.checkpoints_db), "MLflow runs and registry": str(layout.mlflow_db),
                "prediction log": str(layout.predictions_db(name)), "memory (ChromaDB)": str(layout.memory_dir),
                "deployment state": str(layout.deploy_dir / f"{name}.json"),
                "service log": str(layout.deploy_dir / f"{name}.log")}


def run_demo(layout: HomeLayout, narrator: Narrator, *, settings: Settings, model_name: str = "churn",
             epochs: int = 40, requests: int = 100, port: int | None = None, keep_serving: bool = False,
             approver: Approver = auto_approve) -> DemoResult:
    """The whole story (see the module docstring); ``settings`` come from the caller's edge (the CLI)."""
    start = time.time()
    steps: list[tuple[str, float]] = []
    layout.ensure()
    story = _Story(layout, _Timed(narrator, steps, start), settings, model_name, requests)
    job = story.train_v1(epochs)
    story.narrator.step("2. Deploy v1 with the local backend (a real service process on loopback)")
    # A loaded machine can take a while to import torch and load the model: start() waits up to 180 s.
    backend = LocalBackend(layout, model_name, story.registry, port or free_port(), latency_budget_ms=250,
                           start_timeout_s=180)
    ctx = OpsContext(story.settings, via="demo", actor="opsagent-demo", canary_traffic=story.canary_traffic,
                     progress=story.narrator.info)
    try:
        url = _start(backend, job.version)
        story.narrator.info(f"serving at {url}")
        with GraphRunner(ctx) as runner:
            story.quiet_triage(runner, url)
            found, onset = story.drift_triage(runner, url)
            done = story.remediate(runner, found.proposal_id, approver)
    finally:
        if not keep_serving:
            backend.stop()
    champion = story.registry.alias(model_name, CHAMPION)
    d = found.diagnosis
    story.remembered(d.culprit)
    return DemoResult(
        champion_before=job.version, champion_after=champion.version if champion else None, detected=d.culprit,
        incident_id=found.incident_id if d.detected else None, proposal_id=found.proposal_id,
        postmortem=found.postmortem, brain=d.brain, decision=done.decision, retrain_version=done.version,
        gate_passed=done.gate_passed, promoted=done.promoted, outcome=done.outcome, seconds=time.time() - start,
        seconds_drift_to_promoted=(done.promoted_at - onset) if done.promoted and done.promoted_at else None,
        artifacts=story.artifacts(found.postmortem), steps=steps)


def _start(backend: LocalBackend, version: str) -> str:
    status = backend.start(version)  # waits for readiness (start_timeout_s)
    if not status.ready or status.url is None:
        raise DeploymentError(f"the service did not become ready: {status.ready_reason or status.detail}")
    return status.url


class _Timed(Narrator):
    """Passes everything to the narrator and notes when each step starts (for `opsagent demo --timings`)."""

    def __init__(self, inner: Narrator, marks: list[tuple[str, float]], start: float):
        self.inner, self.marks, self.start = inner, marks, start

    def step(self, title: str) -> None:
        self.marks.append((title, round(time.time() - self.start, 3)))
        self.inner.step(title)

    def info(self, message: str) -> None:
        self.inner.info(message)

    def progress(self, label: str, total: int) -> AbstractContextManager[Callable[[int, int], None]]:
        return self.inner.progress(label, total)

    def epochs(self, label: str, total: int) -> AbstractContextManager[EpochCallback]:
        return self.inner.epochs(label, total)
