"""The deployment backend interface: what the agent's tools call, whatever runs the service.

``LocalBackend`` runs the scoring service as a process on this machine; a Kubernetes backend
(Deployments/Services, or a KServe InferenceService with canaryTrafficPercent) implements the same
methods against a cluster.

Every backend routes only versions the evaluation gate passed (tagged ``ready_for_deploy``): ``start(version)``,
``deploy_champion`` and ``deploy_canary`` raise ``DeploymentError`` for any other unless ``force=True``, and a
forced one is recorded in the deployment's own history (``DeploymentStatus.overrides``) and named in the returned
status' ``warnings``. Who forced it is the caller's to audit (the CLI writes ``deploy_override``). ``promote``
needs no check: the canary it promotes was checked when it was routed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

from pydantic import BaseModel, Field

from ml_core.deploy.workload import WorkloadHealth
from ml_core.serving.state import GateOverride


class DeploymentError(RuntimeError):
    """A deployment step that was refused or failed; routing is unchanged and the message says why."""


class DeploymentStatus(BaseModel):
    """Where one model's deployment stands."""

    backend: Literal["local", "kubernetes"]
    model: str
    running: bool = Field(description="the serving process/pods exist")
    ready: bool = Field(description="the service answers /ready with 200")
    ready_reason: str = ""
    url: str | None = None
    champion: str | None = None
    canary: str | None = None
    canary_weight: float = 0.0
    previous_champion: str | None = None
    latency_budget_ms: float = 0.0
    updated_at: float | None = None
    pid: int | None = None
    detail: str = Field(default="", description="e.g. 'process 123 exited', the log file")
    warnings: list[str] = Field(default_factory=list)
    override: GateOverride | None = Field(default=None, description="the gate override this call made, if any")
    overrides: list[GateOverride] = Field(default_factory=list, description="the deployment's latest gate "
                                          "overrides, oldest first")

    def overrides_in_force(self) -> list[GateOverride]:
        """The latest override of each version still routed (champion, canary or previous champion)."""
        routed = {v for v in (self.champion, self.canary, self.previous_champion) if v is not None}
        latest = {o.version: o for o in self.overrides if o.version in routed}
        return sorted(latest.values(), key=lambda o: o.at)


class DeploymentBackend(ABC):
    """Start/stop a model's scoring service and move traffic between registered versions."""

    model_name: str

    @abstractmethod
    def start(self, version: str | None = None, *, force: bool = False, reason: str = "") -> DeploymentStatus:
        """Start the service (idempotent). ``version`` sets the champion when none is deployed yet; it must have
        passed the gate unless ``force`` (then ``reason`` is recorded with the override)."""

    @abstractmethod
    def stop(self) -> DeploymentStatus:
        """Stop the service; routing is kept for the next start."""

    @abstractmethod
    def deploy_champion(self, version: str, *, force: bool = False, reason: str = "") -> DeploymentStatus:
        """Make ``version`` the champion directly (first deploy, or an explicit replacement). Refused for a version
        the gate has not passed unless ``force``."""

    @abstractmethod
    def deploy_canary(self, version: str, weight: float, *, force: bool = False,
                      reason: str = "") -> DeploymentStatus:
        """Route ``weight`` (0..1) of requests to ``version`` once it has passed readiness. Refused for a version
        the gate has not passed unless ``force``."""

    @abstractmethod
    def promote(self) -> DeploymentStatus:
        """The canary becomes champion; the old champion is kept as fallback and rollback target."""

    @abstractmethod
    def rollback(self) -> DeploymentStatus:
        """Drop the canary if there is one, else go back to the previous champion."""

    @abstractmethod
    def status(self) -> DeploymentStatus:
        """The current routing and health."""

    def workload_health(self) -> WorkloadHealth | None:
        """What the platform says about the serving replicas (pods, restarts, events), or ``None`` when this
        backend cannot tell. Never raises for a platform that is unreachable: that is ``None`` too, and the caller
        judges on the model's signals alone."""
        return None
