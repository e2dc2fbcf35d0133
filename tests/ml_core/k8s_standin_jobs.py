"""The stand-in's Job controller and kubelet for ``batch/v1`` Indexed Jobs (k8s_standin serves the API).

Each read of a Job is one reconcile. On create the controller starts one pod per completion index (labelled
``batch.kubernetes.io/job-name`` as the real controller does), Pending; the second reconcile runs them, and
``ticks`` reconciles later the script the test chose (``standin.jobs.outcome``) ends them:
- ``succeed``: every pod Succeeded (exit 0), the Job ``Complete``;
- ``oom``: the last index OOMKilled (exit 137), the Job ``Failed`` (backoffLimit 0: one pod fails the Job);
- ``image_pull``: the last index never leaves ImagePullBackOff (its init container pulls first); the others
  give up waiting at torchrun's rendezvous (exit 1) and the Job is ``Failed`` with that pod still pulling;
- ``unschedulable``: every pod Pending with PodScheduled False / Unschedulable, for ever;
- ``hang``: the pods keep running, for ever.
``on_job_finished(job, outcome)``, when set, runs as the Job reaches its end: a test registers there what rank 0
would have registered in MLflow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
OUTCOMES = ("succeed", "oom", "image_pull", "unschedulable", "hang")


def _status(name: str, image: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "image": image, "imageID": "", "ready": "running" in state, "restartCount": 0,
            "state": state}


def _exit(code: int, reason: str, now: str) -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason, "finishedAt": now}}


class JobController:
    """Plays the Job controller and the kubelet for the Jobs of one ``ApiStandIn``."""

    def __init__(self, standin: Any, now: Callable[[], str]):
        self.standin, self.now = standin, now
        self.outcome = "succeed"
        self.ticks = 2  # reconciles the pods run before the script ends them
        self.on_job_finished: Callable[[dict[str, Any], str], None] | None = None
        self.kubelet: Any = None  # a k8s_standin_kubelet.ProcessKubelet: the pods run as real processes

    # ---- what differs between kinds: the Indexed Job's here, the PyTorchJob's in k8s_standin_pytorchjobs ----
    job_label, index_label = JOB_NAME_LABEL, INDEX_LABEL

    def pods_of(self, job: dict[str, Any]) -> list[tuple[str, int, dict[str, Any], dict[str, Any]]]:
        """(name, index, template, extra labels) of each pod the job's controller starts."""
        template, name = job["spec"]["template"], job["metadata"]["name"]
        return [(f"{name}-{i}-x{i}", i, template, {INDEX_LABEL: str(i)})
                for i in range(int(job["spec"]["completions"]))]

    def write_status(self, job: dict[str, Any], stage: str, **counts: Any) -> None:
        """The job's status at ``stage`` (created, running, or a terminal condition's type with its reason)."""
        if stage in ("created", "running"):
            job["status"] = {"active": counts.get("active", 0)}
            return
        job["status"] = {"active": 0, **{k: v for k, v in counts.items() if k not in ("reason", "message")},
                         "conditions": [{"type": stage, "status": "True", "reason": counts["reason"],
                                         "message": counts["message"], "lastTransitionTime": self.now()}]}

    def is_finished(self, job: dict[str, Any]) -> bool:
        return any(c["status"] == "True" for c in job["status"].get("conditions", []))

    ok_type, failed_type = "Complete", "Failed"

    # ---- the controller loop ---------------------------------------------------------------------
    def created(self, job: dict[str, Any]) -> None:
        assert self.outcome in OUTCOMES, self.outcome
        job["_outcome"], job["_tick"] = self.outcome, 0
        ns, plan = job["metadata"]["namespace"], self.pods_of(job)
        self.write_status(job, "created", active=len(plan))
        for pod_name, _index, template, extra in plan:
            spec = template["spec"]
            init, main = spec["initContainers"][0], spec["containers"][0]
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": pod_name, "namespace": ns, "creationTimestamp": self.now(),
                                "labels": {**template["metadata"]["labels"], self.job_label: job["metadata"]["name"],
                                           **extra}},
                   "spec": {"initContainers": [init], "containers": [main]},
                   "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                              "initContainerStatuses": [_status(init["name"], init["image"],
                                                                {"waiting": {"reason": "PodInitializing"}})],
                              "containerStatuses": [_status(main["name"], main["image"],
                                                            {"waiting": {"reason": "PodInitializing"}})]}}
            self.standin.add_object("pods", pod)

    def reconcile(self, job: dict[str, Any]) -> None:
        if self.is_finished(job):
            return
        job["_tick"] += 1
        pods = sorted((p for p in self.standin.of_kind("pods", job["metadata"]["namespace"])
                       if p["metadata"]["labels"].get(self.job_label) == job["metadata"]["name"]),
                      key=lambda p: int(p["metadata"]["labels"][self.index_label]))
        outcome, last = job["_outcome"], pods[-1]
        if self.kubelet is not None:  # real processes decide (k8s_standin_kubelet)
            self._reconcile_processes(job, pods)
            return
        if job["_tick"] == 2:
            for pod in pods:
                self._start(pod, stuck=outcome == "unschedulable" or (outcome == "image_pull" and pod is last),
                            why=outcome)
            if outcome != "unschedulable":
                self.write_status(job, "running", active=len(pods))
            return
        if job["_tick"] < 2 + self.ticks or outcome in ("hang", "unschedulable"):
            return
        limit = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
        if outcome == "succeed":
            for pod in pods:
                self._end(pod, 0, "Completed")
            self._finish(job, self.ok_type, "CompletionsReached", "Reached expected number of succeeded pods",
                         succeeded=len(pods))
        elif outcome == "oom":
            self._end(last, 137, "OOMKilled")
            self._finish(job, self.failed_type, *limit, failed=1, active=len(pods) - 1)
        else:  # image_pull: the others time out at the rendezvous
            for pod in pods[:-1]:
                self._end(pod, 1, "Error")
            self._finish(job, self.failed_type, *limit, failed=len(pods) - 1, active=1)

    def _reconcile_processes(self, job: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        if job["_tick"] == 1:
            for pod in pods:
                pod["status"]["initContainerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
                self.kubelet.start(pod, job["metadata"]["name"])
            self.write_status(job, "running", active=len(pods))
            return
        phases = [p["status"]["phase"] for p in pods]
        if all(ph == "Succeeded" for ph in phases):
            self._finish(job, self.ok_type, "CompletionsReached", "Reached expected number of succeeded pods",
                         succeeded=len(pods))
        elif "Failed" in phases:
            self._finish(job, self.failed_type, "BackoffLimitExceeded", "Job has reached the specified backoff "
                         "limit", failed=phases.count("Failed"), active=len(pods) - phases.count("Failed"))

    def _start(self, pod: dict[str, Any], *, stuck: bool, why: str) -> None:
        st = pod["status"]
        init, main = st["initContainerStatuses"][0], st["containerStatuses"][0]
        if stuck and why == "unschedulable":
            st["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                 "message": "0/3 nodes are available: 3 Insufficient memory."}]
            return
        if stuck:
            init["state"] = {"waiting": {"reason": "ImagePullBackOff",
                                         "message": f'Back-off pulling image "{init["image"]}"'}}
            return
        init["state"] = _exit(0, "Completed", self.now())
        main["state"], main["ready"] = {"running": {"startedAt": self.now()}}, True
        st["phase"] = "Running"

    def _end(self, pod: dict[str, Any], code: int, reason: str) -> None:
        main = pod["status"]["containerStatuses"][0]
        main["state"], main["ready"] = _exit(code, reason, self.now()), False
        pod["status"]["phase"] = "Succeeded" if code == 0 else "Failed"

    def _finish(self, job: dict[str, Any], type_: str, reason: str, message: str, **counts: int) -> None:
        if self.on_job_finished is not None:
            self.on_job_finished(job, job["_outcome"])
        self.write_status(job, type_, reason=reason, message=message, **counts)
