"""Traffic scenarios as data: which faults to inject, when, and what monitoring should find."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ml_core.data.schema import TableSchema

SCENARIO_DIR = Path(__file__).parent / "scenarios"


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Segmented(_Fault):
    """A fault that can be confined to one segment of the traffic (e.g. ``{Home: rent}``): only records whose
    columns equal these values are affected; empty: every record."""

    segment: dict[str, str] = Field(default_factory=dict, description="column -> value the affected records have")


class CovariateDrift(_Segmented):
    """Shift the inputs: numeric features are scaled and shifted, categoricals re-weighted."""

    kind: Literal["covariate_drift"] = "covariate_drift"
    features: list[str] = Field(min_length=1)
    scale: float = Field(default=1.0, gt=0, description="multiply numeric values")
    shift_std: float = Field(default=0.0, description="add this many reference standard deviations")
    category_share: dict[str, float] = Field(
        default_factory=dict, description="for categoricals: value -> share of records forced to it")


class ConceptDrift(_Segmented):
    """The label's relation to the inputs changes: the same customers now churn for other reasons."""

    kind: Literal["concept_drift"] = "concept_drift"
    strength: float = Field(default=0.5, gt=0, le=1, description="share of labels drawn from the new relation")
    feature: str | None = Field(default=None, description="the new relation: positive where this column ... "
                                "(default: the schema's first categorical column)")
    value: str | float | None = Field(default=None, description="... equals this category, or is above this "
                                      "number (default: its first category / the batch median)")


class LabelShift(_Fault):
    """Churners become more (or less) common; p(x | churn) stays the same."""

    kind: Literal["label_shift"] = "label_shift"
    positive_rate: float = Field(gt=0, lt=1)


class NullStorm(_Segmented):
    """An upstream feed starts sending nulls in some fields."""

    kind: Literal["nulls"] = "nulls"
    features: list[str] = Field(min_length=1)
    rate: float = Field(default=0.3, gt=0, le=1, description="share of records affected")


class Corruption(_Segmented):
    """An upstream feed writes wrong values into fields of a share of records: zeros, one stuck value, or values
    beyond anything seen in training (kept within the schema's limits, so the serving contract lets them in)."""

    kind: Literal["corruption"] = "corruption"
    features: list[str] = Field(min_length=1)
    mode: Literal["zeros", "stuck", "out_of_range"]
    share: float = Field(default=1.0, gt=0, le=1, description="share of records affected")
    value: float | None = Field(default=None, description="stuck: the value written (default: the field's value "
                                "in the first affected record)")
    factor: float = Field(default=10.0, gt=1, description="out_of_range: multiply the value by this (at least "
                          "the column's schema low + 1), clipped to the schema's high")


class SchemaBreak(_Fault):
    """An upstream feed renames a field or changes its type."""

    kind: Literal["schema_break"] = "schema_break"
    rename: dict[str, str] = Field(default_factory=dict)
    stringify: list[str] = Field(default_factory=list, description="fields sent as non-numeric text")


class SlowRelease(_Fault):
    """A new release that answers slower than the latency budget."""

    kind: Literal["slow_release"] = "slow_release"
    latency_ms: float = Field(gt=0)
    canary_weight: float = Field(default=1.0, gt=0, le=1)


class BrokenRelease(_Fault):
    """A new release that raises on a share of requests."""

    kind: Literal["broken_release"] = "broken_release"
    error_rate: float = Field(default=1.0, gt=0, le=1)
    canary_weight: float = Field(default=1.0, gt=0, le=1)


FaultSpec = Annotated[
    CovariateDrift | ConceptDrift | LabelShift | NullStorm | Corruption | SchemaBreak | SlowRelease | BrokenRelease,
    Field(discriminator="kind"),
]

# infrastructure: the serving platform, not the model (a crashed, restarting or unready scoring process or pod).
Category = Literal["none", "data_drift", "concept_drift", "label_shift", "data_quality", "latency",
                   "errors", "bad_release", "infrastructure"]


class Expected(BaseModel):
    """What monitoring (and later the agent) should conclude."""

    model_config = ConfigDict(extra="forbid")

    detected: bool
    category: Category = "none"
    culprit: list[str] = Field(default_factory=list, description="features or versions to blame")
    action: Literal["none", "retrain", "rollback", "fix_data", "retune_threshold",
                    "investigate_infrastructure"] = "none"


class Scenario(BaseModel):
    """One traffic run: how many requests, at what rate, and which faults start when."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    seed: int = 7
    requests: int = Field(default=100, ge=1, le=1_000_000)
    batch_size: int = Field(default=10, ge=1, le=1000)
    rate: float = Field(default=50.0, gt=0, description="requests per second")
    onset: float = Field(default=0.0, ge=0, le=1, description="share of requests sent before faults start")
    label_fraction: float = Field(default=1.0, ge=0, le=1, description="share of records whose label arrives")
    faults: list[FaultSpec] = Field(default_factory=list)
    expected: Expected = Field(default_factory=lambda: Expected(detected=False))

    def check_features(self, schema: TableSchema, model: str = "the model") -> Scenario:
        """Raise ScenarioError if a fault names a column the model's schema lacks; returns self."""
        known = set(schema.feature_names)
        for f in self.faults:
            names = list(getattr(f, "features", [])) + list(getattr(f, "rename", {}))
            names += list(getattr(f, "stringify", [])) + [n for n in [getattr(f, "feature", None)] if n]
            names += list(getattr(f, "segment", {}))
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ScenarioError(f"scenario '{self.name}': fault '{f.kind}' names unknown feature(s) {unknown} "
                                    f"of {model}; its features: {', '.join(sorted(known))}")
        return self

    @property
    def release_fault(self) -> SlowRelease | BrokenRelease | None:
        for f in self.faults:
            if isinstance(f, SlowRelease | BrokenRelease):
                return f
        return None


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says what to fix."""


def load_scenario(ref: str | Path) -> Scenario:
    """Load a scenario from a YAML path, or by name from the built-in scenarios."""
    path = Path(ref)
    if not path.exists():
        path = SCENARIO_DIR / f"{ref}.yaml"
    if not path.exists():
        raise ScenarioError(f"no scenario '{ref}': give a YAML file path or one of: {', '.join(builtin_names())}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping with at least 'name'")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"  - {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ScenarioError(f"{path}: invalid scenario:\n" + "\n".join(lines)) from exc


def builtin_names() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
