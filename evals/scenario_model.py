"""Benchmark scenarios as data: one YAML file per ML-ops incident, validated by a pydantic model.

A scenario says how to build its world (the model it watches — a built-in spec or a spec file, default
churn —, traffic per scheduled tick, the faults that start after the quiet tick 0, checked against that
model's schema), how many scheduled ticks triage gets, whether the benchmark approves the proposal on a
person's behalf, and what a correct agent concludes: detection, culprit, root-cause category, action.

The faults it may list are ``evals.scenario_faults`` (the simulator's kinds and the benchmark's own; re-exported
here). A data fault can be confined to a segment (``segment: {Home: rent}``) or to a share of records (nulls,
corruption), and can ramp: with ``ramp_ticks: N`` it grows linearly and is fully on from tick N;
``expected.detectable_from`` says from which tick a correct agent must have concluded (a "watch" verdict
before that is an early warning, not a miss), and time-to-detect counts from that tick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from evals.platform_faults import ServiceCrash
from evals.scenario_faults import (
    BadModelRelease,
    FaultSpec,
    HealthyRelease,
    JointShift,
    ReleaseFault,
    WorldFault,
    ramped,
)
from evals.specs import DEFAULT_MODEL, is_spec_path, resolve_spec
from ml_core.simulator.scenario import Category, LabelShift, SchemaBreak
from ml_core.simulator.scenario import Scenario as TrafficScenario
from ml_core.spec.errors import SpecError
from ml_core.spec.model_spec import ModelSpec

__all__ = [  # this module's own names, then the fault kinds re-exported from evals.scenario_faults
    "RELEASE", "SCENARIO_DIR", "Action", "EvalScenario", "Expected", "Kind", "ScenarioFileError", "Traffic",
    "load_dir", "load_file",
    "BadModelRelease", "FaultSpec", "HealthyRelease", "JointShift", "ReleaseFault", "WorldFault", "ramped",
]


SCENARIO_DIR = Path(__file__).parent / "scenarios"
RELEASE = "@release"  # in an expected culprit: the version the world released, resolved at run time

Action = Literal["none", "retrain", "rollback", "fix_data", "retune_threshold", "investigate_infrastructure"]
# What each scenario exercises; the benchmark must cover every one (tests/evals/test_eval_scenarios.py).
Kind = Literal["control", "covariate_drift", "covariate_drift_multi", "prediction_drift", "concept_drift",
               "label_shift", "data_quality", "slow_release", "broken_release", "bad_model_release",
               "benign_drift", "compound", "gradual_drift", "slice_regression", "corruption", "unlabelled",
               "low_traffic", "infrastructure"]


class Traffic(BaseModel):
    """The traffic of one scheduled tick (the same shape every tick; the seed moves on per tick)."""

    model_config = ConfigDict(extra="forbid")

    requests: int = Field(default=100, ge=1, le=100_000, description="HTTP requests per tick")
    batch_size: int = Field(default=10, ge=1, le=1000, description="customers per request")
    rate: float = Field(default=100.0, gt=0, description="requests per second")
    label_fraction: float = Field(default=1.0, ge=0, le=1, description="share of records whose label arrives")
    seed: int = 7


class Expected(BaseModel):
    """What a correct agent concludes at the first tick after the fault starts."""

    model_config = ConfigDict(extra="forbid")

    detected: bool
    category: Category = "none"
    culprit: list[str] = Field(default_factory=list, description=f"features or versions ({RELEASE}: the "
                               "released version); empty: culprits are not scored")
    action: Action = "none"
    detectable_from: int = Field(default=1, ge=1, le=10, description="the tick from which the fault is strong "
                                 "enough to detect (a ramped fault); a watch verdict before it is an early warning, "
                                 "and time-to-detect counts from it")

    @model_validator(mode="after")
    def _consistent(self) -> Expected:
        if not self.detected and (self.category != "none" or self.action != "none" or self.culprit):
            raise ValueError("a scenario expected to stay quiet (detected: false) must have category none, "
                             "action none and no culprit")
        if self.detected and self.category == "none":
            raise ValueError("detected: true needs the root-cause category the agent should name")
        return self


class EvalScenario(BaseModel):
    """One benchmark scenario: a world, its faults, the ticks triage gets, and the expected verdict."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", description="unique; used in reports and --only")
    kind: Kind
    model: str = Field(default=DEFAULT_MODEL, min_length=1, description="the model the world watches: a built-in "
                       "spec (churn, credit) or a spec YAML file (relative to the scenario file)")
    holdout: bool = Field(default=False, description="held out: written before any rule ran on it, reported "
                          "apart from the rest, and never to be tuned on")
    batch: str = Field(default="original", pattern=r"^[a-z0-9_]+$", description="the batch of scenarios this one was "
                       "written in (step6, step7): a report gives each batch, and its held-out half, apart")
    description: str = ""
    traffic: Traffic = Field(default_factory=Traffic)
    ticks: int = Field(default=2, ge=1, le=10, description="scheduled triage ticks after the fault starts")
    ramp_ticks: int = Field(default=1, ge=1, le=10, description="the data faults grow linearly and reach full "
                            "strength at this tick (1: fully on from tick 1)")
    faults: list[FaultSpec] = Field(default_factory=list)
    expected: Expected
    approve: bool = Field(default=False, description="accept the proposal on a person's behalf, then score "
                          "whether the mitigation executed and verified")
    approve_edit: dict[str, Any] = Field(default_factory=dict, description="fields the approver edits before "
                                         "accepting (e.g. epochs: 8 to keep a retrain short)")
    fast: bool = Field(default=False, description="part of the fast subset the test suite runs")
    _spec: ModelSpec | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> EvalScenario:
        releases = [f for f in self.faults if isinstance(f, ReleaseFault)]
        if len(releases) > 1:
            raise ValueError("at most one release fault per scenario (one version is shipped)")
        if RELEASE in self.expected.culprit and not releases:
            raise ValueError(f"expected culprit {RELEASE} needs a release fault to resolve to")
        if self.kind == "control" and self.expected.detected:
            raise ValueError("a control scenario must expect detected: false")
        if self.crash is not None and self.traffic.requests < 2:
            raise ValueError("service_crash needs at least 2 requests a tick: some answered before the kill, some "
                             "after")
        if self.approve_edit and not self.approve:
            raise ValueError("approve_edit needs approve: true")
        if self.expected.detectable_from > self.ticks:
            raise ValueError(f"expected.detectable_from ({self.expected.detectable_from}) is after the last tick "
                             f"({self.ticks}); give the scenario more ticks")
        if self.ramp_ticks > 1 and any(isinstance(f, LabelShift | SchemaBreak) for f in self.faults):
            raise ValueError("ramp_ticks applies to covariate drift, concept drift, nulls and corruption; a label "
                             "shift or schema break is either on or off")
        try:
            self._spec = resolve_spec(self.model)
        except SpecError as exc:
            raise ValueError(str(exc)) from exc
        self.traffic_scenario(1).check_features(self._spec.schema, self._spec.name)  # a ScenarioError: a ValueError
        for shift in self.joint_shifts:
            shift.check(self._spec)
        return self

    @property
    def spec(self) -> ModelSpec:
        """The spec of the model this scenario's world watches (resolved when the scenario was validated)."""
        if self._spec is None:
            self._spec = resolve_spec(self.model)
        return self._spec

    @property
    def model_name(self) -> str:
        return self.spec.name

    @property
    def release(self) -> ReleaseFault | None:
        return next((f for f in self.faults if isinstance(f, ReleaseFault)), None)

    @property
    def crash(self) -> ServiceCrash | None:
        """The scoring process kill this scenario injects, if any (the world applies it, not the traffic)."""
        return next((f for f in self.faults if isinstance(f, ServiceCrash)), None)

    @property
    def joint_shifts(self) -> list[JointShift]:
        return [f for f in self.faults if isinstance(f, JointShift)]

    @property
    def is_control(self) -> bool:
        return not self.expected.detected

    def traffic_scenario(self, tick: int) -> TrafficScenario:
        """The simulator scenario of one tick: tick 0 is quiet; from tick 1 the data faults are on."""
        strength = min(1.0, tick / self.ramp_ticks)
        data_faults = [] if tick == 0 else [ramped(f, strength) for f in self.faults if not isinstance(f, WorldFault)]
        t = self.traffic
        return TrafficScenario(name=self.name, seed=t.seed + 101 * tick, requests=t.requests,
                               batch_size=t.batch_size, rate=t.rate, label_fraction=t.label_fraction,
                               faults=data_faults)


class ScenarioFileError(ValueError):
    """A scenario file or folder that cannot be used; the message names the file, the field and the fix."""


def load_file(path: Path) -> EvalScenario:
    """One scenario from a YAML file, or a ScenarioFileError naming the file and each bad field."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioFileError(f"{path}: expected a mapping with name, kind, faults and expected")
    model = data.get("model")
    if isinstance(model, str) and is_spec_path(model) and not Path(model).expanduser().is_absolute():
        data["model"] = str((path.parent / model).resolve())  # a spec file beside the scenario moves with it
    try:
        return EvalScenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"  - {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors()]
        raise ScenarioFileError(f"{path}: invalid scenario:\n" + "\n".join(lines)) from exc


def load_dir(folder: Path | None = None, only: list[str] | None = None) -> list[EvalScenario]:
    """Every ``*.yaml``/``*.yml`` scenario in ``folder`` (default: the benchmark's own), sorted by name.

    All files are checked before any runs; every bad file is named in one error. ``only`` keeps the
    scenarios with those names (unknown names are an error that lists the known ones).
    """
    folder = folder or SCENARIO_DIR
    if not folder.is_dir():
        raise ScenarioFileError(f"{folder}: no such folder; give --scenarios a folder of scenario YAML files")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise ScenarioFileError(f"{folder}: no *.yaml scenario files in this folder")
    scenarios, problems = [], []
    for path in files:
        try:
            scenarios.append(load_file(path))
        except ScenarioFileError as exc:
            problems.append(str(exc))
    if problems:
        raise ScenarioFileError("\n".join(problems))
    names = [s.name for s in scenarios]
    if dupes := sorted({n for n in names if names.count(n) > 1}):
        raise ScenarioFileError(f"{folder}: scenario names must be unique; repeated: {', '.join(dupes)}")
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ScenarioFileError(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        scenarios = [s for s in scenarios if s.name in only]
    return sorted(scenarios, key=lambda s: s.name)
