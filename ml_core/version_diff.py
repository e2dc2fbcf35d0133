"""What differs between two registry versions of a model, read from the registry: the MLflow training run each
came from, its training data's fingerprint, the training parameters that differ, and whether the new version passed
the champion-vs-challenger gate — or was deployed without one.

Where each fact lives: the version's tags ``training_run_id`` and ``data_fingerprint`` (``jobs.train_and_register``;
a re-registered bundle, ``release.register_model_bundle``, names the run its model was trained in), the run's
logged params (the ``TrainConfig`` and the row counts), and the ``gate`` tag ``pipeline.gate_version`` writes
(``passed``/``failed``). No ``gate`` tag means no gate judged the version.
"""

from __future__ import annotations

from typing import Literal

from mlflow.exceptions import MlflowException
from pydantic import BaseModel, Field

from ml_core.registry import Registry, RegistryError, VersionInfo

# Params logged with every run that are not training choices: identity, lineage, or shown on their own line.
NOT_PARAMS = frozenset({"model_name", "parent_version", "data_fingerprint"})
PARAMS_SHOWN = 8  # a reader compares a handful; the full lists are in the two runs, which the diff names


class ParamChange(BaseModel):
    name: str
    old: str | None = Field(description="the old version's value (None: not logged for it)")
    new: str | None


class VersionSide(BaseModel):
    """One version's lineage, as the registry holds it."""

    version: str
    training_run_id: str | None = None
    data_fingerprint: str | None = None


class ReleaseDiff(BaseModel):
    """The version that went live against the one it replaced (or runs beside)."""

    old: VersionSide | None = Field(description="the version it replaced; None when there was none to compare")
    new: VersionSide
    params: list[ParamChange] = Field(default_factory=list, description="training parameters that differ")
    params_known: bool = Field(False, description="both runs' params could be read (so an empty list means none "
                                                  "differ, not unknown)")
    gate: Literal["passed", "failed"] | None = Field(None, description="the gate's verdict on the new version; None: "
                                                                        "deployed without a gate")


def _run_params(registry: Registry, run_id: str | None) -> dict[str, str] | None:
    if not run_id:
        return None
    try:
        return dict(registry.client.get_run(run_id).data.params)
    except MlflowException:  # a deleted run, or a store without it: the params are unknown, not empty
        return None


def _side(registry: Registry, info: VersionInfo) -> tuple[VersionSide, dict[str, str] | None]:
    run_id = info.tags.get("training_run_id") or info.run_id
    params = _run_params(registry, run_id)
    fingerprint = info.tags.get("data_fingerprint") or (params or {}).get("data_fingerprint") or None
    return VersionSide(version=info.version, training_run_id=run_id, data_fingerprint=fingerprint), params


def release_diff(registry: Registry, model: str, new: str, old: str | None) -> ReleaseDiff | None:
    """``new`` against ``old`` (None: nothing to compare with); None when ``new`` is not in the registry."""
    try:
        new_info = registry.version(model, new)
        old_info = registry.version(model, old) if old and old != new else None
    except RegistryError:
        return None
    new_side, new_params = _side(registry, new_info)
    gate = new_info.tags.get("gate")
    diff = ReleaseDiff(old=None, new=new_side, gate=gate if gate in ("passed", "failed") else None)  # type: ignore[arg-type]
    if old_info is None:
        return diff
    diff.old, old_params = _side(registry, old_info)
    if old_params is not None and new_params is not None:
        names = sorted((set(old_params) | set(new_params)) - NOT_PARAMS)
        diff.params = [ParamChange(name=n, old=old_params.get(n), new=new_params.get(n)) for n in names
                       if old_params.get(n) != new_params.get(n)][:PARAMS_SHOWN]
        diff.params_known = True
    return diff
