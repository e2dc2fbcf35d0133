"""What the platform says about a model's serving workload, apart from the model: the contract between the
deployment backends (which read it: pods and events on Kubernetes, the process on the local backend) and triage
(which tells an infrastructure cause from a model cause with it).

A backend that cannot tell returns ``None`` from ``DeploymentBackend.workload_health()``; triage then judges on
the model's signals alone, as before.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# The states an on-call engineer looks for first (``kubectl get pods`` / ``describe``): each names a cause
# outside the model.
ProblemReason = Literal[
    "crash_loop",      # CrashLoopBackOff: the container keeps exiting
    "oom_killed",      # last termination OOMKilled
    "image_pull",      # ErrImagePull / ImagePullBackOff / InvalidImageName
    "unready",         # running but readiness has been false
    "pending",         # not scheduled / not started (Unschedulable, ContainerCreating for long)
    "restarts",        # restarted in the window without a worse state
    "exited",          # the local backend's process is gone
]


class PodProblem(BaseModel):
    """One replica (pod, or the local process) in a state that is not the model's doing."""

    pod: str
    reason: ProblemReason
    detail: str = Field(default="", description="the platform's own words, e.g. 'Back-off restarting failed "
                        "container' or 'exit code 137'")
    restarts: int = 0
    since: float | None = Field(default=None, description="epoch seconds the state began, when known")


class WorkloadEvent(BaseModel):
    """A recent platform event about the workload (Kubernetes Events; the local backend has none)."""

    at: float | None = None
    type: str = Field(default="Warning", description="'Warning' or 'Normal'")
    reason: str = ""
    message: str = ""
    object: str = Field(default="", description="e.g. 'Pod/churn-scoring-5d9f-abc'")
    count: int = 1


class WorkloadHealth(BaseModel):
    """The serving workload of one model as the platform sees it, at ``observed_at``."""

    backend: Literal["local", "kubernetes"]
    model: str
    desired: int = Field(description="replicas asked for")
    ready: int = Field(description="replicas passing readiness")
    restarts: int = Field(default=0, description="container restarts summed over the replicas")
    problems: list[PodProblem] = Field(default_factory=list)
    events: list[WorkloadEvent] = Field(default_factory=list, description="recent events, newest last")
    observed_at: float

    @property
    def unhealthy(self) -> bool:
        """Something an engineer would act on: a replica in a bad state, or fewer ready than asked for."""
        return bool(self.problems) or self.ready < self.desired
