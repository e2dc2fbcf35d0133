"""A training Job's pods in words: what each shows (``kubectl get pods`` and ``describe``), and what to do.

A training pod never restarts (``restartPolicy: Never``), so a crash is the container's *current* state,
``terminated`` with a reason and an exit code, not the ``lastState`` a restarted scoring pod carries; and the
init container that fetches the job (``fetch-job``) pulls the image first, so an image problem shows there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ml_core.deploy.kubernetes.health import IMAGE_PULL, pod_problem

Reason = Literal["image_pull", "oom_killed", "unschedulable", "fetch_failed", "failed", "crash_loop"]


@dataclass(frozen=True)
class PodProblem:
    """One training pod's worst state (its own type: triage's ``PodProblem`` reasons are the scoring pods')."""

    pod: str
    reason: Reason
    detail: str

# What a person does about each reason (the message ends with it).
ADVICE = {
    "image_pull": "the cluster cannot pull the image: build and push it (README, 'Run it on Kubernetes') or pass "
                  "--image / OPSAGENT_K8S_IMAGE naming one the cluster can pull",
    "oom_killed": "the pod used more memory than its limit: give it more (TrainingJobSpec.memory), or train with "
                  "a smaller --batch-size or on more --nodes",
    "unschedulable": "no node has the CPU, memory or GPUs a pod asks for: use fewer --nodes or smaller requests, "
                     "or add nodes",
    "fetch_failed": "the pod could not fetch the job from MLflow: OPSAGENT_MLFLOW_TRACKING_URI must be a server "
                    "the cluster reaches (its log: kubectl logs POD -c fetch-job)",
    "failed": "a rank failed: read its log (kubectl logs POD -c trainer; in a PyTorchJob -c pytorch)",
    "crash_loop": "a container keeps crashing: read its log (kubectl logs POD --previous)",
}


def _terminated_problem(name: str, cs: Any, init: bool) -> PodProblem | None:
    done = cs.state.terminated if cs.state else None
    if done is None or (done.exit_code == 0 and done.reason != "OOMKilled"):
        return None
    if done.reason == "OOMKilled":
        return PodProblem(pod=name, reason="oom_killed", detail=f"{cs.name} OOMKilled (exit code {done.exit_code})")
    reason: Reason = "fetch_failed" if init else "failed"
    message = f": {done.message.strip()[-300:]}" if done.message else ""
    return PodProblem(pod=name, reason=reason, detail=f"{cs.name} exited with code {done.exit_code} "
                      f"({done.reason or 'Error'}){message}")


def training_pod_problem(pod: Any) -> PodProblem | None:
    """The worst thing one training pod shows, or None while it is fine (pending in order, running, done)."""
    name = pod.metadata.name
    statuses = [(cs, True) for cs in pod.status.init_container_statuses or []]
    statuses += [(cs, False) for cs in pod.status.container_statuses or []]
    for cs, init in statuses:
        waiting = cs.state.waiting if cs.state else None
        if waiting is not None and waiting.reason in IMAGE_PULL:
            return PodProblem(pod=name, reason="image_pull",
                              detail=f"{cs.name} {waiting.reason}: {waiting.message or ''}".strip())
        problem = _terminated_problem(name, cs, init)
        if problem is not None:
            return problem
    scheduled = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
    if scheduled is not None and scheduled.status == "False" and scheduled.reason == "Unschedulable":
        return PodProblem(pod=name, reason="unschedulable", detail=f"Unschedulable: {scheduled.message or ''}")
    shared = pod_problem(pod)  # a crash loop, read as for the scoring pods
    return PodProblem(pod=name, reason="crash_loop", detail=shared.detail) if shared and shared.reason == \
        "crash_loop" else None


def phases(pods: list[Any]) -> str:
    """``2 Running, 1 Pending``: the pods' phases, counted."""
    counts: dict[str, int] = {}
    for pod in pods:
        counts[pod.status.phase or "Unknown"] = counts.get(pod.status.phase or "Unknown", 0) + 1
    return ", ".join(f"{n} {phase}" for phase, n in sorted(counts.items())) or "no pods yet"


def explain(problems: list[PodProblem]) -> str:
    """Each pod's problem, then what to do about each kind (once)."""
    if not problems:
        return "no pod reported a reason"
    said = "; ".join(f"pod {p.pod}: {p.detail}" for p in problems)
    todo = [ADVICE[r] for r in dict.fromkeys(p.reason for p in problems) if r in ADVICE]
    return said + (". To fix: " + "; ".join(todo) if todo else "")
