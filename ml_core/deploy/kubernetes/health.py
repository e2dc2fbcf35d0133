"""Pods and events in the words triage uses (``WorkloadHealth``): what ``kubectl get pods`` and
``kubectl describe`` would show an on-call engineer, one ``PodProblem`` per replica at its worst state."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from ml_core.deploy.workload import PodProblem, WorkloadEvent

IMAGE_PULL = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
# A restart older than the triage window (60 minutes by default) is history, not a cause of what the window
# shows; one inside it is reported even when the pod is fine now.
RESTART_WINDOW_S = 3600.0
EVENTS_KEPT = 20  # newest events kept: a crash-looping pod repeats the same few, counted


def _epoch(ts: datetime | None) -> float | None:
    return ts.timestamp() if ts is not None else None


def _ready_condition(pod: Any) -> Any | None:
    return next((c for c in (pod.status.conditions or []) if c.type == "Ready"), None)


def _container_problem(name: str, cs: Any, now: float, restart_window_s: float) -> PodProblem | None:
    """The worst state of one container: waiting in a crash loop or on its image, OOM-killed, restarted."""
    waiting = cs.state.waiting if cs.state else None
    last = cs.last_state.terminated if cs.last_state else None
    restarts = int(cs.restart_count or 0)
    if waiting is not None and waiting.reason in IMAGE_PULL:
        return PodProblem(pod=name, reason="image_pull", detail=f"{waiting.reason}: {waiting.message or ''}".strip(),
                          restarts=restarts)
    if last is not None and last.reason == "OOMKilled":
        return PodProblem(pod=name, reason="oom_killed", restarts=restarts, since=_epoch(last.finished_at),
                          detail=f"OOMKilled (exit code {last.exit_code}); memory limit too low for the load")
    if waiting is not None and waiting.reason == "CrashLoopBackOff":
        why = f"; last exit: {last.reason} (exit code {last.exit_code})" if last is not None else ""
        return PodProblem(pod=name, reason="crash_loop", restarts=restarts,
                          detail=f"CrashLoopBackOff: {waiting.message or 'back-off restarting failed container'}{why}")
    finished = _epoch(last.finished_at) if last is not None else None
    if last is not None and restarts and finished is not None and now - finished <= restart_window_s:
        return PodProblem(pod=name, reason="restarts", restarts=restarts, since=finished,
                          detail=f"restarted {restarts}x; last exit: {last.reason} (exit code {last.exit_code})")
    return None


def pod_problem(pod: Any, now: float | None = None, restart_window_s: float = RESTART_WINDOW_S) -> PodProblem | None:
    """The one problem a pod shows (its worst), or None for a healthy one."""
    now = time.time() if now is None else now
    name = pod.metadata.name
    for cs in pod.status.container_statuses or []:
        problem = _container_problem(name, cs, now, restart_window_s)
        if problem is not None:
            return problem
    restarts = sum(int(cs.restart_count or 0) for cs in pod.status.container_statuses or [])
    if pod.status.phase == "Pending":
        scheduled = next((c for c in (pod.status.conditions or []) if c.type == "PodScheduled"), None)
        why = (f"{scheduled.reason}: {scheduled.message}" if scheduled is not None and scheduled.status == "False"
               else "containers not started")
        return PodProblem(pod=name, reason="pending", detail=why, restarts=restarts,
                          since=_epoch(pod.metadata.creation_timestamp))
    ready = _ready_condition(pod)
    if ready is not None and ready.status != "True":
        return PodProblem(pod=name, reason="unready", restarts=restarts, since=_epoch(ready.last_transition_time),
                          detail=f"readiness false: {ready.reason or ''} {ready.message or ''}".strip())
    return None


def restarts_of(pod: Any) -> int:
    return sum(int(cs.restart_count or 0) for cs in pod.status.container_statuses or [])


def workload_event(ev: Any) -> WorkloadEvent:
    obj = ev.involved_object
    at = ev.last_timestamp or ev.event_time or ev.first_timestamp or ev.metadata.creation_timestamp
    return WorkloadEvent(at=_epoch(at), type=ev.type or "Normal", reason=ev.reason or "", message=ev.message or "",
                         object=f"{obj.kind}/{obj.name}", count=int(ev.count or 1))


def recent_events(events: list[Any], prefix: str, keep: int = EVENTS_KEPT) -> list[WorkloadEvent]:
    """The events about the model's objects (Deployment, ReplicaSets and pods are all named ``prefix...``),
    newest last."""
    ours = [workload_event(e) for e in events if (e.involved_object.name or "").startswith(prefix)]
    return sorted(ours, key=lambda e: e.at or 0.0)[-keep:]
