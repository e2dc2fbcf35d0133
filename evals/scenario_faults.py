"""The faults a benchmark scenario may list: the simulator's kinds and the benchmark's own, as one tagged union.

Data faults reuse the simulator's kinds (``ml_core.simulator.scenario``); the benchmark adds two release kinds —
a *bad model release* (a worse model shipped, promoted or as a canary) and a *healthy release* (an identical copy
shipped as a canary: a control that must stay quiet) —, a *joint shift* (columns re-paired across customers:
every marginal distribution unchanged, the model's scores moved) and a *service crash* (the scoring process
killed during traffic: an infrastructure cause, not the model's; ``evals.platform_faults``).

The traffic carries the data faults; the world applies the rest (``WorldFault``). A data fault can ramp
(``ramped``): it grows linearly, tick by tick, to its full size.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from evals.platform_faults import ServiceCrash
from ml_core.simulator.scenario import (
    BrokenRelease,
    ConceptDrift,
    Corruption,
    CovariateDrift,
    LabelShift,
    NullStorm,
    SchemaBreak,
    SlowRelease,
)
from ml_core.spec.model_spec import ModelSpec


class BadModelRelease(BaseModel):
    """A worse model shipped and promoted: trained on labels shuffled by a broken join, for few epochs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["bad_model_release"] = "bad_model_release"
    epochs: int = Field(default=3, ge=1, le=200, description="training epochs of the bad model")
    shuffled_share: float = Field(default=1.0, gt=0, le=1, description="share of training labels shuffled")
    promote: bool = Field(default=True, description="promote it to champion (else leave it a canary)")
    canary_weight: float = Field(default=1.0, gt=0, le=1)


class HealthyRelease(BaseModel):
    """An identical copy of the champion shipped as a canary: a release that must not raise an alarm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["healthy_release"] = "healthy_release"
    canary_weight: float = Field(default=0.5, gt=0, le=1)


class JointShift(BaseModel):
    """The inputs' combination changes while each column's distribution stays exactly the same: the
    ``follow`` columns are re-paired across customers to rise and fall with ``lead``. A per-feature drift
    test cannot see it; the model's scores can."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["joint_shift"] = "joint_shift"
    lead: str
    follow: list[str] = Field(min_length=1)

    def check(self, spec: ModelSpec) -> None:
        """Raise ValueError unless every column is a numeric feature of the scenario's model."""
        numeric = set(spec.schema.numeric_names)
        bad = [n for n in [self.lead, *self.follow] if n not in numeric]
        if bad:
            raise ValueError(f"joint_shift needs numeric features of {spec.name}; not numeric or unknown: {bad}; "
                             f"numeric features: {', '.join(sorted(numeric))}")


FaultSpec = Annotated[
    CovariateDrift | ConceptDrift | LabelShift | NullStorm | Corruption | SchemaBreak | SlowRelease | BrokenRelease
    | BadModelRelease | HealthyRelease | JointShift | ServiceCrash,
    Field(discriminator="kind"),
]
ReleaseFault = SlowRelease | BrokenRelease | BadModelRelease | HealthyRelease
WorldFault = BadModelRelease | HealthyRelease | JointShift | ServiceCrash  # applied by the world, not the traffic


def ramped(fault: Any, strength: float) -> Any:
    """A data fault at ``strength`` (0..1] of its full size: a ramp grows the fault linearly tick by tick."""
    if strength >= 1.0:
        return fault
    if isinstance(fault, CovariateDrift):
        return fault.model_copy(update={"scale": 1 + (fault.scale - 1) * strength,
                                        "shift_std": fault.shift_std * strength,
                                        "category_share": {k: v * strength for k, v in fault.category_share.items()}})
    if isinstance(fault, ConceptDrift):
        return fault.model_copy(update={"strength": fault.strength * strength})
    if isinstance(fault, NullStorm):
        return fault.model_copy(update={"rate": fault.rate * strength})
    if isinstance(fault, Corruption):
        return fault.model_copy(update={"share": fault.share * strength})
    return fault  # releases are shipped whole
