"""DDP training on a cluster: an Indexed Job whose pods rendezvous through torchrun, as plain manifests.

``render_training_job(spec)`` returns two objects for ``kubectl apply`` or the API:
- a headless Service (``clusterIP: None``) that gives each pod of the Job a DNS name,
  ``<job>-<index>.<service>``: Indexed Jobs name their pods' hostnames ``<job>-<index>``, and the pod template's
  ``subdomain`` puts them under the Service, so every node reaches node 0 by name;
- a ``batch/v1`` Job with ``completionMode: Indexed`` and ``completions = parallelism = nodes``: one pod per node,
  each running ``torchrun --nnodes N --node-rank $(JOB_COMPLETION_INDEX) --master-addr <job>-0.<service>`` and
  the same worker as on one machine (``python -m ml_core.distributed --job DIR``), reading the job's request
  and data from a shared volume. Global rank 0 (node 0, local rank 0) logs to MLflow and registers the version,
  so the request's tracking URI must be a server the pods reach, not a SQLite file.
``backoffLimit: 0``: the ranks of a DDP job stand or fall together (a retried pod would wait for peers that
have gone), so one failed pod fails the Job, as torchrun fails the whole run on one machine.

Pure: nothing here talks to a cluster; tests validate the output against the Kubernetes schemas offline.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Manifest = dict[str, Any]
APP_LABEL = "app.kubernetes.io/name"
APP = "opsagent-training"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # set by the Job controller on every pod of the Job
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_DIR_MOUNT = "/var/lib/opsagent-job"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class TrainingJobSpec(BaseModel):
    """One distributed training run on the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # 52 characters: a pod's hostname is "<name>-<index>" and Kubernetes caps hostnames at 63.
    name: str = Field(pattern=DNS_LABEL, max_length=52, description="the Job's (and its Service's) name")
    namespace: str = Field(default="default", pattern=DNS_LABEL, max_length=63)
    image: str = Field(min_length=1, description="the opsagent image (the repository's Dockerfile)")
    nodes: int = Field(default=2, ge=1, le=1000, description="pods, one per node: completions = parallelism")
    nproc_per_node: int = Field(default=1, ge=1, le=64, description="torchrun processes in each pod")
    gpus_per_node: int = Field(default=0, ge=0, le=64, description="nvidia.com/gpu per pod; 0 trains on CPU (gloo)")
    cpu: str = Field(default="2", description="CPU request per pod")
    memory: str = Field(default="4Gi", description="memory request and limit per pod")
    job_volume_claim: str = Field(pattern=DNS_LABEL, description="a ReadWriteMany PersistentVolumeClaim holding "
                                  "the job directory (request.json, data.parquet; rank 0 writes result.json)")
    job_dir: str = Field(default=JOB_DIR_MOUNT, description="the job directory inside the pods (the claim's mount)")
    port: int = Field(default=29500, ge=1024, le=65535, description="torchrun's rendezvous port on node 0")
    model: str = Field(default="", description="the model trained, as a label (informational)")


def _labels(spec: TrainingJobSpec) -> dict[str, str]:
    labels = {APP_LABEL: APP, "opsagent.io/training-job": spec.name}
    if spec.model:
        labels["opsagent.io/model"] = spec.model[:63].strip("-_.") or "model"
    return labels


def torchrun_args(spec: TrainingJobSpec) -> list[str]:
    """The container's arguments: static rendezvous on node 0, this pod's node rank from its completion index
    (``$(JOB_COMPLETION_INDEX)`` is expanded by the kubelet from the container's environment)."""
    return ["-m", "torch.distributed.run", "--nnodes", str(spec.nodes), "--nproc-per-node", str(spec.nproc_per_node),
            "--node-rank", "$(JOB_COMPLETION_INDEX)", "--master-addr", f"{spec.name}-0.{spec.name}",
            "--master-port", str(spec.port), "-m", "ml_core.distributed", "--job", spec.job_dir]


def _container(spec: TrainingJobSpec) -> Manifest:
    resources: dict[str, dict[str, Any]] = {"requests": {"cpu": spec.cpu, "memory": spec.memory},
                                            "limits": {"memory": spec.memory}}
    if spec.gpus_per_node:
        resources["requests"]["nvidia.com/gpu"] = spec.gpus_per_node
        resources["limits"]["nvidia.com/gpu"] = spec.gpus_per_node
    return {
        "name": "trainer", "image": spec.image, "command": ["python"], "args": torchrun_args(spec),
        # The controller injects JOB_COMPLETION_INDEX too; declared here so $(...) expansion does not depend on it.
        "env": [{"name": "JOB_COMPLETION_INDEX",
                 "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}},
                {"name": "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "value": "false"}],
        "ports": [{"name": "rendezvous", "containerPort": spec.port}],
        "resources": resources,
        "volumeMounts": [{"name": "job", "mountPath": spec.job_dir},
                         {"name": "dshm", "mountPath": "/dev/shm"}],  # NCCL and gloo share memory between ranks
    }


def render_training_job(spec: TrainingJobSpec) -> list[Manifest]:
    """The headless Service, then the Indexed Job (apply in this order: DNS names exist before pods start)."""
    labels = _labels(spec)
    service = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels},
        "spec": {"clusterIP": "None", "selector": {JOB_NAME_LABEL: spec.name},
                 # Pods resolve before they are ready: the rendezvous happens before any readiness exists.
                 "publishNotReadyAddresses": True,
                 "ports": [{"name": "rendezvous", "port": spec.port, "targetPort": spec.port}]},
    }
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels},
        "spec": {
            "completionMode": "Indexed", "completions": spec.nodes, "parallelism": spec.nodes,
            "backoffLimit": 0, "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never", "subdomain": spec.name, "containers": [_container(spec)],
                    "volumes": [{"name": "job", "persistentVolumeClaim": {"claimName": spec.job_volume_claim}},
                                {"name": "dshm", "emptyDir": {"medium": "Memory"}}],
                },
            },
        },
    }
    return [service, job]
