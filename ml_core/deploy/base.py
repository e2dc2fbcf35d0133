"""The deployment backend interface: what the agent's tools call, whatever runs the service.

``LocalBackend`` runs the scoring service as a process on this machine; a Kubernetes backend
(Deployments/Services, or a KServe InferenceService with canaryTrafficPercent) implements the same
methods against a cluster.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

from pydantic import BaseModel, Field


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


class DeploymentBackend(ABC):
    """Start/stop a model's scoring service and move traffic between registered versions."""

    model_name: str

    @abstractmethod
    def start(self, version: str | None = None) -> DeploymentStatus:
        """Start the service (idempotent). ``version`` sets the champion when none is deployed yet."""

    @abstractmethod
    def stop(self) -> DeploymentStatus:
        """Stop the service; routing is kept for the next start."""

    @abstractmethod
    def deploy_champion(self, version: str) -> DeploymentStatus:
        """Make ``version`` the champion directly (first deploy, or an explicit replacement)."""

    @abstractmethod
    def deploy_canary(self, version: str, weight: float) -> DeploymentStatus:
        """Route ``weight`` (0..1) of requests to ``version`` once it has passed readiness."""

    @abstractmethod
    def promote(self) -> DeploymentStatus:
        """The canary becomes champion; the old champion is kept as fallback and rollback target."""

    @abstractmethod
    def rollback(self) -> DeploymentStatus:
        """Drop the canary if there is one, else go back to the previous champion."""

    @abstractmethod
    def status(self) -> DeploymentStatus:
        """The current routing and health."""
