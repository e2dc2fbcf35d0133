"""DDP training as a Kubeflow ``PyTorchJob`` (``kubeflow.org/v1``, the training operator's resource): the
manifest, and the job's state read from its status.

The operator does what the Indexed Job's headless Service and completion index do by hand: it starts one
``Master`` pod (global node 0) and ``nodes - 1`` ``Worker`` pods from the same template, gives each a headless
Service of its own (``<job>-master-0``, ``<job>-worker-<i>``), and sets each pod's rank in its environment:
``PET_NODE_RANK`` (the master 0, worker *i* ``i + 1``), ``PET_NNODES``, ``MASTER_ADDR``/``PET_MASTER_ADDR``,
``MASTER_PORT``/``PET_MASTER_PORT`` (from the master container's port named ``pytorchjob-port``). Its admission
webhook wants a container named ``pytorch`` in every replica, and exactly one master. The container runs the
same torchrun command as the Indexed Job's, the node rank from ``$(PET_NODE_RANK)``. ``backoffLimit: 0`` and
``restartPolicy: Never``, as for the Indexed Job: the ranks of a DDP run stand or fall together.

Status (the operator's ``JobStatus``): ``conditions`` appended as the job moves ``Created`` → ``Running`` →
``Succeeded`` or ``Failed`` (older ones turn ``status: False``; ``Restarting`` and ``Suspended`` besides), and
``replicaStatuses`` per replica type (``active``, ``succeeded``, ``failed``). Pure: nothing here talks to a
cluster; tests validate the manifest against the CRD's own OpenAPI schema, and its pod template against the
Kubernetes schemas.
"""

from __future__ import annotations

from typing import Any

from ml_core.deploy.kubernetes.training_job import (
    SUBMISSION_ANNOTATION,
    JobState,
    Manifest,
    TrainingJobSpec,
    labels_for,
    torchrun_args,
    trainer_pod,
)

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "pytorchjobs", "PyTorchJob"
CONTAINER = "pytorch"  # the webhook refuses a replica without it; the operator reads the port from it
PORT_NAME = "pytorchjob-port"
JOB_NAME_LABEL = "training.kubeflow.org/job-name"  # set by the operator on every pod of the job
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"  # master | worker
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
TERMINAL = ("Succeeded", "Failed")


def master_address(spec: TrainingJobSpec) -> str:
    """The master pod's Service, which the operator creates (its name is the pod's)."""
    return f"{spec.name}-master-0"


def render_pytorchjob(spec: TrainingJobSpec) -> Manifest:
    """The PyTorchJob: a Master and (for more than one node) ``nodes - 1`` Workers, the same pod."""
    if not spec.staging_run:
        raise ValueError("stage the job directory first (ml_core.distributed.staging.stage_job): its run id is "
                         "what the pods fetch")
    labels = labels_for(spec)
    pod = trainer_pod(spec, container=CONTAINER, port_name=PORT_NAME, env=[],
                      args=torchrun_args(spec, "$(PET_NODE_RANK)", master_address(spec)))
    pod.pop("restartPolicy")  # the replica's restartPolicy is the operator's to put on its pods

    def replica(count: int) -> Manifest:
        return {"replicas": count, "restartPolicy": "Never", "template": {"metadata": {"labels": labels},
                                                                          "spec": pod}}

    replicas = {"Master": replica(1), **({"Worker": replica(spec.nodes - 1)} if spec.nodes > 1 else {})}
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels,
                     "annotations": {SUBMISSION_ANNOTATION: spec.submission}},
        "spec": {
            "nprocPerNode": str(spec.nproc_per_node),
            "pytorchReplicaSpecs": replicas,
            # cleanPodPolicy None: the pods stay (kubectl logs) until the TTL removes the job and them.
            "runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "None", "ttlSecondsAfterFinished": 86400},
        },
    }


def latest_condition(job: dict[str, Any]) -> dict[str, Any] | None:
    """The newest condition whose status is True (the operator appends them in order)."""
    conditions = [c for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
    return conditions[-1] if conditions else None


def pytorchjob_state(job: dict[str, Any], nodes: int) -> JobState:
    """The job's state from its status (a dict: the custom-objects API returns JSON, not typed models)."""
    status = job.get("status") or {}
    totals = {"active": 0, "succeeded": 0, "failed": 0}
    for replica in (status.get("replicaStatuses") or {}).values():
        for key in totals:
            totals[key] += int((replica or {}).get(key) or 0)
    latest = latest_condition(job)
    stage = latest["type"] if latest else "not yet created"
    counts = (f"{stage}, {totals['succeeded']}/{nodes} pods succeeded, {totals['active']} active, "
              f"{totals['failed']} failed")
    submission = ((job.get("metadata") or {}).get("annotations") or {}).get(SUBMISSION_ANNOTATION)
    if latest is None or latest["type"] not in TERMINAL:
        return JobState("running", "", counts, submission)
    why = f"{latest.get('reason') or latest['type']}: {latest.get('message') or ''}".strip(": ")
    return JobState("succeeded" if latest["type"] == "Succeeded" else "failed", why, counts, submission)
