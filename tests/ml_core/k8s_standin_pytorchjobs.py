"""The stand-in's Kubeflow training operator: ``kubeflow.org/v1`` PyTorchJobs run as the operator runs them.

The same scripted outcomes as the Indexed Jobs' controller (k8s_standin_jobs: succeed, oom, image_pull,
unschedulable, hang), with the operator's shapes: one pod per replica, ``<job>-master-0`` and
``<job>-worker-<i>``, labelled ``training.kubeflow.org/job-name``, ``replica-type`` and ``replica-index``; each
container given the operator's environment (``PET_NODE_RANK``: master 0, worker *i* ``i + 1``; ``PET_NNODES``,
``PET_NPROC_PER_NODE``, ``MASTER_ADDR``/``PET_MASTER_ADDR``, ``MASTER_PORT``/``PET_MASTER_PORT`` from the port
named ``pytorchjob-port``, ``WORLD_SIZE``, ``RANK``); and the status as ``JobStatus``: conditions appended
(Created, Running, then Succeeded or Failed, the previous one turned False) and ``replicaStatuses``.
"""

from __future__ import annotations

import copy
from typing import Any

from k8s_standin_jobs import JobController

JOB_LABEL = "training.kubeflow.org/job-name"
TYPE_LABEL = "training.kubeflow.org/replica-type"
INDEX_LABEL = "training.kubeflow.org/replica-index"
REASONS = {"Created": "PyTorchJobCreated", "Running": "PyTorchJobRunning", "Succeeded": "PyTorchJobSucceeded",
           "Failed": "PyTorchJobFailed"}


def operator_env(job: dict[str, Any], rank: int) -> list[dict[str, str]]:
    """What the operator appends to each container's environment (pkg/controller.v1/pytorch/envvar.go)."""
    replicas = job["spec"]["pytorchReplicaSpecs"]
    nodes = sum(int(r["replicas"]) for r in replicas.values())
    master = replicas["Master"]["template"]["spec"]["containers"]
    port = next(p["containerPort"] for c in master if c["name"] == "pytorch" for p in c.get("ports", [])
                if p["name"] == "pytorchjob-port")
    nproc = job["spec"].get("nprocPerNode", "1")
    addr = f'{job["metadata"]["name"]}-master-0'
    env = {"PYTHONUNBUFFERED": "1", "MASTER_PORT": str(port), "PET_MASTER_PORT": str(port), "MASTER_ADDR": addr,
           "PET_MASTER_ADDR": addr, "WORLD_SIZE": str(nodes * int(nproc)), "RANK": str(rank),
           "PET_NODE_RANK": str(rank), "PET_NPROC_PER_NODE": nproc, "PET_NNODES": str(nodes)}
    return [{"name": k, "value": v} for k, v in env.items()]


class PyTorchJobController(JobController):
    """Plays the training operator (and the kubelet) for the PyTorchJobs of one ``ApiStandIn``."""

    job_label, index_label = JOB_LABEL, "opsagent.test/global-index"
    ok_type, failed_type = "Succeeded", "Failed"

    def pods_of(self, job: dict[str, Any]) -> list[tuple[str, int, dict[str, Any], dict[str, Any]]]:
        name, plan = job["metadata"]["name"], []
        for rtype in ("Master", "Worker"):
            replica = job["spec"]["pytorchReplicaSpecs"].get(rtype)
            for i in range(int(replica["replicas"]) if replica else 0):
                rank = i if rtype == "Master" else i + 1
                template = copy.deepcopy(replica["template"])
                for container in template["spec"]["containers"]:
                    container["env"] = [*container.get("env", []), *operator_env(job, rank)]
                plan.append((f"{name}-{rtype.lower()}-{i}", rank, template,
                             {TYPE_LABEL: rtype.lower(), INDEX_LABEL: str(i), self.index_label: str(rank)}))
        return plan

    def write_status(self, job: dict[str, Any], stage: str, **counts: Any) -> None:
        status = job.setdefault("status", {})
        conditions = status.setdefault("conditions", [])
        kind = {"created": "Created", "running": "Running"}.get(stage, stage)
        for c in conditions:
            c["status"] = "False" if c["type"] == "Running" else c["status"]
        name = f'{job["metadata"]["namespace"]}/{job["metadata"]["name"]}'
        message = {"Succeeded": f"PyTorchJob {name} is successfully completed.",
                   "Failed": f"PyTorchJob {name} is failed because {counts.get('failed', 0)} replica(s) failed."}
        conditions.append({"type": kind, "status": "True", "reason": REASONS.get(kind, kind),
                           "message": message.get(kind, f"PyTorchJob {name} is {kind.lower()}."),
                           "lastUpdateTime": self.now(), "lastTransitionTime": self.now()})
        if stage == "created":
            return
        workers = int((job["spec"]["pytorchReplicaSpecs"].get("Worker") or {}).get("replicas", 0))
        # Where the counts fall between the replicas does not matter to a reader of the totals; the master
        # takes the first of each.
        per: dict[str, dict[str, int]] = {"Master": {}, **({"Worker": {}} if workers else {})}
        for key in ("active", "succeeded", "failed"):
            n = int(counts.get(key, 0))
            per["Master"][key] = min(n, 1)
            if workers:
                per["Worker"][key] = n - min(n, 1)
        status["replicaStatuses"] = per

    def is_finished(self, job: dict[str, Any]) -> bool:
        return any(c["type"] in ("Succeeded", "Failed") and c["status"] == "True"
                   for c in job.get("status", {}).get("conditions", []))
