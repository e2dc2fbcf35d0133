"""Run benchmark scenarios: build each world, run scheduled triage tick by tick, approve where the scenario
says so, and score the runs. pydantic-evals is the harness (cases = scenarios, ``repeat``, progress bar,
task timing); the AIOpsLab scores are ``evals.scoring`` functions wrapped as one evaluator.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic_evals import Case, Dataset
from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext

from agent.settings import Settings
from evals.postmortem_scoring import score_case
from evals.run_facts import finding_facts, postmortem_evidence, postmortem_text, release_fact
from evals.scenario_model import EvalScenario
from evals.scoring import CaseScore, Mitigation, ScenarioRun, TickResult, Totals, score_run, totals
from evals.tick_window import own_traffic_minutes
from evals.world import Template, World, build_template
from ml_core.spec.model_spec import ModelSpec

Brain = Literal["offline", "llm"]
Progress = Callable[[str], None]


class EvalError(ValueError):
    """A benchmark that cannot start (no LLM endpoint for --brain llm, bad settings): the message says why."""


def brain_settings(brain: Brain, home: Path, base: Settings, *, model: str = "churn",
                   injected_model: bool = False) -> Settings:
    """Settings for one world: the caller's (SLOs, LLM endpoint; built at its edge) with this world's home and
    model; the offline brain drops any configured endpoint so the policy decides alone. ``injected_model``: the
    llm brain's chat model is given directly (tests' scripted fake), so no endpoint is needed."""
    if brain == "llm" and not injected_model and not base.llm_configured:
        raise EvalError("--brain llm needs an LLM endpoint: set OPSAGENT_LLM_BASE_URL (vLLM, Ollama, llama.cpp) "
                        "or OPSAGENT_LLM_API_KEY, or run with --brain offline")
    update: dict[str, Any] = {"home": home, "model_name": model}
    if brain == "offline":
        update |= {"llm_base_url": None, "llm_api_key": None}
    return base.model_copy(update=update)


@dataclass
class BenchmarkResult:
    brain: Brain
    scenarios: list[EvalScenario]
    runs: list[ScenarioRun]
    scores: list[CaseScore]
    totals: Totals
    templates: dict[str, Template]  # model name -> the champion home its worlds were copied from
    started_at: float
    repeat: int = 1
    keep_worlds: bool = True  # False: each world folder (and the template it trained) was deleted after its run
    notes: list[str] = field(default_factory=list)


@dataclass
class AIOpsLabScores(Evaluator[EvalScenario, ScenarioRun, None]):
    """Detection, false alarm, localization, root cause, mitigation (chosen; executed and verified), and
    time-to-detect, for one run: only the dimensions that apply to the scenario are reported."""

    def evaluate(self, ctx: EvaluatorContext[EvalScenario, ScenarioRun, None]
                 ) -> dict[str, EvaluationReason | int]:
        s = score_run(ctx.inputs, ctx.output)
        out: dict[str, EvaluationReason | int] = {
            k: EvaluationReason(value=v.ok, reason=v.reason) for k, v in s.verdicts().items() if v.ok is not None}
        if s.ttd_ticks is not None:
            out["ttd_ticks"] = s.ttd_ticks
        return out


class ScenarioRunner:
    """Runs one scenario at a time in its own world under ``worlds_dir``, copied from its model's template.

    ``keep_worlds=False`` deletes each world folder once its run is recorded: scoring reads only the returned
    ``ScenarioRun``, and a benchmark's worlds (MLflow artifacts, prediction logs, retrained models) add up."""

    def __init__(self, templates: Mapping[str, Template], worlds_dir: Path, brain: Brain, *,
                 base_settings: Settings, chat_model: Any = None, progress: Progress = lambda _m: None,
                 keep_worlds: bool = True):
        self.templates = dict(templates)
        self.worlds_dir = worlds_dir
        self.brain = brain
        self.base_settings = base_settings
        self.chat_model = chat_model  # tests inject a scripted fake here; None: built from settings
        self.progress = progress
        self.keep_worlds = keep_worlds

    def __call__(self, scenario: EvalScenario) -> ScenarioRun:
        """The pydantic-evals task: never raises; a broken world is a scored miss with its reason."""
        started = time.time()
        root = self.worlds_dir / f"{scenario.name}-{uuid.uuid4().hex[:6]}"
        run = ScenarioRun(scenario=scenario.name, brain=self.brain, world=str(root))
        try:
            self._run(scenario, root, run)
        except Exception as exc:  # any failure is information about this scenario, not the end of the run
            run.error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}"
            logging.getLogger(__name__).debug("scenario %s failed", scenario.name, exc_info=True)
            self.progress(f"{scenario.name}: failed: {run.error}")
        if not self.keep_worlds and _discard(root, self.progress):
            run.world = None
        run.seconds = time.time() - started
        return run

    def _run(self, scenario: EvalScenario, root: Path, run: ScenarioRun) -> None:
        from agent.context import OpsContext
        from graphs.runner import GraphRunner

        template = self.templates.get(scenario.model_name)
        if template is None:
            raise EvalError(f"no trained champion for model '{scenario.model_name}' (have: "
                            f"{', '.join(sorted(self.templates)) or 'none'})")
        settings = brain_settings(self.brain, root, self.base_settings, model=template.model,
                                  injected_model=self.chat_model is not None)
        with World(scenario, template, root, progress=self.progress) as world:
            canary_round = iter(range(1, 1000))

            def canary_traffic(_url: str, _seconds: float) -> None:
                # The world keeps its fault while remediation watches the canary.
                world.send(max(1, len(run.ticks) - 1), seed_offset=1000 * next(canary_round))

            ctx = OpsContext(settings, via="scheduler", actor="scheduler", canary_traffic=canary_traffic,
                             progress=lambda m: None, chat_model=self.chat_model)
            with GraphRunner(ctx) as runner:
                previous_traffic_end: float | None = None
                for n in range(scenario.ticks + 1):
                    tick, previous_traffic_end = self._tick(world, runner, n, previous_traffic_end)
                    run.ticks.append(tick)
                    run.released = world.released
                    self.progress(f"{scenario.name} tick {n}: "
                                  + (f"{tick.category} → {tick.action} ({', '.join(tick.culprit) or '-'})"
                                     if tick.detected else "quiet"))
                    early = n < scenario.expected.detectable_from and tick.action == "none"
                    if n >= 1 and tick.detected and not early:  # an early warning: keep watching
                        if scenario.approve and tick.proposal_id:
                            run.mitigation = self._approve(scenario, runner, tick.proposal_id)
                        break
        # Read after any approval: the post-mortem is a living document its outcome rewrites.
        concluding = run.concluding_detection(scenario.expected.detectable_from)
        run.postmortem_md = postmortem_text(root, concluding)
        run.postmortem_evidence = postmortem_evidence(root, concluding)

    def _tick(self, world: World, runner: Any, n: int, previous_traffic_end: float | None
              ) -> tuple[TickResult, float]:
        t0 = time.time()
        traffic = world.tick(n)
        traffic_end = time.time()
        out = runner.triage(world.model, window_minutes=own_traffic_minutes(t0, previous_traffic_end, slack_s=0.6))
        d = out.diagnosis
        tokens_in, tokens_out, cost = _spent(runner, out.thread_id, out.incident_id, world)
        return TickResult(tick=n, detected=d.detected, category=d.category, culprit=list(d.culprit), action=d.action,
                          summary=d.summary, brain=d.brain, incident_id=out.incident_id, proposal_id=out.proposal_id,
                          tools=list(out.tools_called), findings=_findings(out.summary),
                          finding_facts=finding_facts(runner, out.thread_id), wrote_postmortem=bool(out.postmortem),
                          release=release_fact(runner, out.thread_id),
                          requests_ok=traffic.ok, requests_failed=traffic.failed, requests_rejected=traffic.rejected,
                          tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost, seconds=time.time() - t0
                          ), traffic_end

    def _approve(self, scenario: EvalScenario, runner: Any, proposal_id: str) -> Mitigation:
        from agent.proposals import Accept, Edit, HumanResponse

        t0 = time.time()
        by = "opsagent eval (on a person's behalf)"
        answer: HumanResponse = (Edit(args=dict(scenario.approve_edit), by=by, via="cli")
                                 if scenario.approve_edit else Accept(by=by, via="cli"))
        done = runner.answer(proposal_id, answer)
        self.progress(f"{scenario.name}: approved {proposal_id}: {done.status}, verified={done.verified}")
        return Mitigation(proposal_id=proposal_id, status=done.status, verified=done.verified,
                          outcome=done.outcome, seconds=time.time() - t0)


def _flush_traces() -> None:
    """Write out the traces MLflow still queues for the world's tracking store: deleted under its background
    writer, the store fails with "attempt to write a readonly database" on the benchmark's output."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        mlflow.flush_trace_async_logging()


def _discard(folder: Path, progress: Progress) -> bool:
    """Delete a world or template folder (its service has stopped); True when it is gone."""
    _flush_traces()
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        return True  # the world failed before its folder was made
    except OSError as exc:  # kept, and said so: a full disk is no reason to lose the benchmark's results
        progress(f"could not delete {folder}: {exc}")
        return False
    return True


def _spent(runner: Any, thread_id: str, incident_id: str, world: World) -> tuple[int, int, float]:
    """LLM tokens in, out and their estimated cost for one triage.

    The triage graph keeps its usage in its checkpointed state, which covers every triage: the incident
    record has it too, but only when something was detected, so a quiet verdict the LLM paid for (a control
    whose findings it judged harmless) would count as free. The record is the fallback if the state is gone."""
    from agent.incidents import IncidentError, IncidentStore
    from agent.llm import cost_usd

    # Each triage has its own thread, also a later tick of an ongoing incident (which keeps the incident's id).
    state = runner.triage_graph.get_state({"configurable": {"thread_id": thread_id}}).values
    if state:
        usage = state.get("usage") or {}
        tokens_in, tokens_out = int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))
        return tokens_in, tokens_out, cost_usd(runner.ctx.settings, tokens_in, tokens_out) or 0.0  # unknown: 0
    try:
        with IncidentStore(world.layout.approvals_db) as store:
            rec = store.get(incident_id)
    except IncidentError:
        return 0, 0, 0.0
    return rec.tokens_in, rec.tokens_out, rec.cost_usd


def _findings(summary: str) -> list[str]:
    """The finding lines of a monitoring summary (after its first line)."""
    return [line.strip("- ").strip() for line in summary.splitlines()[1:] if line.strip()][:12]


def models_of(scenarios: list[EvalScenario]) -> dict[str, ModelSpec]:
    """The specs the scenarios' worlds watch, by model name, in the order the scenarios first name them."""
    specs: dict[str, ModelSpec] = {}
    for s in scenarios:
        spec = specs.setdefault(s.model_name, s.spec)
        if spec != s.spec:
            raise EvalError(f"scenario '{s.name}': model '{s.model}' is a spec named '{spec.name}', but another "
                            "scenario's spec of that name differs; give each model spec its own name")
    return specs


def _templates(specs: dict[str, ModelSpec], given: Mapping[str, Template], folder: Path, epochs: int,
               progress: Progress) -> tuple[dict[str, Template], list[Path]]:
    """A champion home per model: the caller's where given, else trained here (returned to delete later)."""
    templates, trained = dict(given), []
    for name, spec in specs.items():
        if name not in templates:
            templates[name] = build_template(folder / name, spec, epochs=epochs, progress=progress)
            trained.append(templates[name].home)
        t = templates[name]
        progress(f"{name} champion v{t.version} trained in {t.train_seconds:.0f} s "
                 f"(test F1 {t.test_metrics.get('f1', 0):.3f}, AUC {t.test_metrics.get('auc', 0):.3f})")
    return templates, trained


def run_benchmark(scenarios: list[EvalScenario], out_dir: Path, *, base_settings: Settings, brain: Brain = "offline",
                  repeat: int = 1, epochs: int = 30, chat_model: Any = None,
                  progress: Progress = lambda _m: None, show_progress_bar: bool = True,
                  templates: Mapping[str, Template] | None = None, keep_worlds: bool = True) -> BenchmarkResult:
    """Train one champion per model the scenarios name, run every scenario ``repeat`` times, score and total.

    ``templates``: already trained champion homes to copy instead, by model name (``result.templates`` of an
    earlier run). ``keep_worlds=False``: delete each world after its run, and at the end the templates this
    call trained; ``out_dir`` then keeps only what the caller writes there (report.md, results.json)."""
    if repeat < 1:
        raise EvalError(f"--repeat must be at least 1, not {repeat}")
    if not scenarios:
        raise EvalError("no scenarios to run")
    specs = models_of(scenarios)
    # Fails early on a missing endpoint or bad settings, before anything is trained.
    base_settings = brain_settings(brain, out_dir, base_settings, injected_model=chat_model is not None)
    started = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    ready, trained = _templates(specs, templates or {}, out_dir / "templates", epochs, progress)
    task = ScenarioRunner(ready, out_dir / "worlds", brain, base_settings=base_settings, chat_model=chat_model,
                          progress=progress, keep_worlds=keep_worlds)
    dataset = Dataset[EvalScenario, ScenarioRun, None](
        name="opsagent-incidents", cases=[Case(name=s.name, inputs=s) for s in scenarios],
        evaluators=[AIOpsLabScores()])
    # One world at a time: each runs a real service and trains on a shared, small machine.
    report = dataset.evaluate_sync(task, name=f"opsagent-{brain}", max_concurrency=1, repeat=repeat,
                                   progress=show_progress_bar)
    by_name = {s.name: s for s in scenarios}
    pairs: list[tuple[EvalScenario, ScenarioRun]] = [(c.inputs, c.output) for c in report.cases]
    for failure in report.failures:  # the task never raises, but an evaluator could
        scenario = by_name[failure.source_case_name or failure.name]
        pairs.append((scenario, ScenarioRun(scenario=scenario.name, brain=brain, error=failure.error_message)))
    order = {s.name: i for i, s in enumerate(scenarios)}
    pairs.sort(key=lambda p: order[p[0].name])
    runs = [r for _, r in pairs]
    scores = [score_case(s, r) for s, r in pairs]
    if not keep_worlds:
        for folder in (out_dir / "worlds", *([out_dir / "templates"] if trained else [])):
            _discard(folder, progress)  # "templates" holds only the champions this call trained
    return BenchmarkResult(brain=brain, scenarios=scenarios, runs=runs, scores=scores,
                           totals=totals(scores, runs, wall_seconds=time.time() - started),
                           templates={n: ready[n] for n in specs}, started_at=started, repeat=repeat,
                           keep_worlds=keep_worlds)
