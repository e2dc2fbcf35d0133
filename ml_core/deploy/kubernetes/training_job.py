"""DDP training on a cluster: an Indexed Job whose pods rendezvous through torchrun, as plain manifests.

``render_training_job(spec)`` returns two objects for ``kubectl apply`` or the API:
- a headless Service (``clusterIP: None``) that gives each pod of the Job a DNS name,
  ``<job>-<index>.<service>``: Indexed Jobs name their pods' hostnames ``<job>-<index>``, and the pod template's
  ``subdomain`` puts them under the Service, so every node reaches node 0 by name;
- a ``batch/v1`` Job with ``completionMode: Indexed`` and ``completions = parallelism = nodes``: one pod per node,
  each running ``torchrun --nnodes N --node-rank $(JOB_COMPLETION_INDEX) --master-addr <job>-0.<service>`` and
  the same worker as on one machine (``python -m ml_core.distributed --job DIR``).
The job directory (``request.json``, ``data.parquet``) reaches each pod through the team's MLflow: the submitter
logs it as the artifacts of a staging run (``ml_core.distributed.staging``) and an init container downloads them
into the pod's own ``emptyDir``. The pods need that tracking server anyway (global rank 0 logs to it and
registers the version), so no ReadWriteMany volume is needed (many clusters, kind's included, have none) and the
submitter needs nothing but the Kubernetes API and MLflow. The tracking URI is in the pods' environment
(``OPSAGENT_MLFLOW_TRACKING_URI``, or a Secret's keys when it holds a password), never in the request file.
``backoffLimit: 0``: the ranks of a DDP job stand or fall together (a retried pod would wait for peers that
have gone), so one failed pod fails the Job, as torchrun fails the whole run on one machine.

Pure: nothing here talks to a cluster; tests validate the output against the Kubernetes schemas offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ml_core.deploy.quantity import (
    check_cpu,
    check_limit,
    check_memory,
    check_optional_cpu,
    check_optional_memory,
)

Manifest = dict[str, Any]
APP_LABEL = "app.kubernetes.io/name"
APP = "opsagent-training"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # set by the Job controller on every pod of the Job
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
JOB_DIR_MOUNT = "/var/lib/opsagent-job"
HOME = "/var/lib/opsagent"  # the image's OPSAGENT_HOME: rank 0's MLflow scratch (an emptyDir)
SUBMISSION_ANNOTATION = "opsagent.io/submission"  # what was submitted (a hash): a 409 on the same one is a re-run
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
JobKind = Literal["indexed", "pytorchjob"]


@dataclass(frozen=True)
class JobState:
    """A training job as its controller reports it, whichever kind (Indexed Job or PyTorchJob)."""

    outcome: Literal["running", "succeeded", "failed"]
    why: str  # the terminal condition's reason and message; "" while running
    counts: str  # "1/2 pods succeeded, 1 active, 0 failed" (and the PyTorchJob's latest condition)
    submission: str | None  # the opsagent.io/submission annotation: which submission this job is


class TrainingJobSpec(BaseModel):
    """One distributed training run on the cluster."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # 52 characters: a pod's hostname is "<name>-<index>" and Kubernetes caps hostnames at 63.
    name: str = Field(pattern=DNS_LABEL, max_length=52, description="the Job's (and its Service's) name")
    namespace: str = Field(default="default", pattern=DNS_LABEL, max_length=63)
    image: str = Field(min_length=1, description="the opsagent image (the repository's Dockerfile)")
    nodes: int = Field(default=2, ge=1, le=1000, description="pods, one per node: completions = parallelism")
    nproc_per_node: int = Field(default=1, ge=1, le=64, description="torchrun processes in each pod")
    gpus_per_node: int = Field(default=0, ge=0, le=64, description="nvidia.com/gpu per pod (a limit: the "
                               "scheduler requests as many); 0 trains on CPU (gloo)")
    cpu: Annotated[str, AfterValidator(check_cpu)] = Field(default="2", description="CPU request per pod")
    cpu_limit: Annotated[str | None, AfterValidator(check_optional_cpu)] = Field(
        default=None, description="CPU limit per pod; None: no limit (a DDP step waits for its slowest rank, so "
        "throttling one pod slows them all)")
    memory: Annotated[str, AfterValidator(check_memory)] = Field(default="4Gi", description="memory request per pod")
    memory_limit: Annotated[str | None, AfterValidator(check_optional_memory)] = Field(
        default=None, description="memory limit per pod; None: the request (a pod over its request is the first "
        "the node evicts, and an evicted rank fails the whole job)")
    kind: JobKind = Field(default="indexed", description="indexed: a batch/v1 Indexed Job and a headless Service; "
                          "pytorchjob: a Kubeflow PyTorchJob (training_pytorchjob)")
    staging_run: str = Field(default="", pattern=r"^([0-9a-f]{32})?$", description="the MLflow run whose artifacts "
                             "are the job directory (request.json, data.parquet; ml_core.distributed.staging); set "
                             "by the submitter once it staged them")
    tracking_uri: str | None = Field(default=None, description="the MLflow server the pods fetch the job from and "
                                     "rank 0 registers in; None when env_secret holds OPSAGENT_MLFLOW_TRACKING_URI")
    env_secret: str | None = Field(default=None, description="a Secret whose keys become the pods' environment "
                                   "(a tracking URI with a password, MLFLOW_TRACKING_TOKEN): never in the manifest")
    submission: str = Field(default="", max_length=63, description="a hash of what was submitted (annotation)")
    job_dir: str = Field(default=JOB_DIR_MOUNT, description="the job directory inside the pods (an emptyDir)")
    port: int = Field(default=29500, ge=1024, le=65535, description="torchrun's rendezvous port on node 0")
    model: str = Field(default="", description="the model trained, as a label (informational)")

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> TrainingJobSpec:
        check_limit("cpu", self.cpu, self.cpu_limit)
        check_limit("memory", self.memory, self.memory_limit)
        if self.kind == "pytorchjob" and not self.name[0].isalpha():
            raise ValueError(f"a PyTorchJob's name must start with a letter (a DNS-1035 label), not {self.name!r}")
        return self


def labels_for(spec: TrainingJobSpec) -> dict[str, str]:
    labels = {APP_LABEL: APP, "opsagent.io/training-job": spec.name}
    if spec.model:
        labels["opsagent.io/model"] = spec.model[:63].strip("-_.") or "model"
    return labels


def torchrun_args(spec: TrainingJobSpec, node_rank: str = "$(JOB_COMPLETION_INDEX)",
                  master_addr: str | None = None) -> list[str]:
    """The container's arguments: static rendezvous on node 0 (default: the Indexed Job's pod 0), this pod's
    node rank from its environment (``$(VAR)`` is expanded by the kubelet from the container's environment)."""
    return ["-m", "torch.distributed.run", "--nnodes", str(spec.nodes), "--nproc-per-node", str(spec.nproc_per_node),
            "--node-rank", node_rank, "--master-addr", master_addr or f"{spec.name}-0.{spec.name}",
            "--master-port", str(spec.port), "-m", "ml_core.distributed", "--job", spec.job_dir]


def _env(spec: TrainingJobSpec) -> list[Manifest]:
    env: list[Manifest] = [{"name": "OPSAGENT_HOME", "value": HOME},
                           {"name": "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "value": "false"}]
    if spec.tracking_uri:
        env.append({"name": "OPSAGENT_MLFLOW_TRACKING_URI", "value": spec.tracking_uri})
    return env


def _env_from(spec: TrainingJobSpec) -> Manifest:
    return {"envFrom": [{"secretRef": {"name": spec.env_secret}}]} if spec.env_secret else {}


def pod_resources(spec: TrainingJobSpec) -> Manifest:
    """The trainer's requests and limits: GPUs as a limit only (for an extended resource Kubernetes sets the
    request to the limit, and refuses the two when they differ)."""
    limits: dict[str, Any] = {"memory": spec.memory_limit or spec.memory}
    if spec.cpu_limit:
        limits["cpu"] = spec.cpu_limit
    if spec.gpus_per_node:
        limits["nvidia.com/gpu"] = spec.gpus_per_node
    return {"requests": {"cpu": spec.cpu, "memory": spec.memory}, "limits": limits}


def _fetch_container(spec: TrainingJobSpec) -> Manifest:
    """The init container: the staging run's artifacts into the job directory, once per pod (before torchrun
    starts the pod's ranks, so they never race to download)."""
    return {"name": "fetch-job", "image": spec.image, "command": ["python"],
            "args": ["-m", "ml_core.distributed.staging", "--run", spec.staging_run, "--to", spec.job_dir],
            "env": _env(spec), **_env_from(spec),
            # The trainer's memory: a pod reserves the larger of its init and main containers' requests, so
            # this costs nothing and can never fall outside the limit the user chose.
            "resources": {"requests": {"cpu": "250m", "memory": spec.memory},
                          "limits": {"memory": spec.memory_limit or spec.memory}},
            "volumeMounts": [{"name": "job", "mountPath": spec.job_dir}, {"name": "home", "mountPath": HOME}]}


def trainer_pod(spec: TrainingJobSpec, *, container: str, args: list[str], env: list[Manifest],
                port_name: str) -> Manifest:
    """A training pod's spec, either kind: the fetch init container, then ``container`` running torchrun with
    ``args``, this pod's rank variables ``env`` first, the rendezvous port named ``port_name``."""
    trainer = {
        "name": container, "image": spec.image, "command": ["python"], "args": args,
        "env": [*env, *_env(spec)], **_env_from(spec),
        "ports": [{"name": port_name, "containerPort": spec.port}],
        "resources": pod_resources(spec),
        "volumeMounts": [{"name": "job", "mountPath": spec.job_dir}, {"name": "home", "mountPath": HOME},
                         {"name": "dshm", "mountPath": "/dev/shm"}],  # NCCL and gloo share memory between ranks
    }
    return {"restartPolicy": "Never", "initContainers": [_fetch_container(spec)], "containers": [trainer],
            "volumes": [{"name": "job", "emptyDir": {}}, {"name": "home", "emptyDir": {}},
                        {"name": "dshm", "emptyDir": {"medium": "Memory"}}]}


def render_training_job(spec: TrainingJobSpec) -> list[Manifest]:
    """The headless Service, then the Indexed Job (apply in this order: DNS names exist before pods start)."""
    if not spec.staging_run:
        raise ValueError("stage the job directory first (ml_core.distributed.staging.stage_job): its run id is "
                         "what the pods fetch")
    labels = labels_for(spec)
    # The controller injects JOB_COMPLETION_INDEX too; declared here so $(...) expansion does not depend on it.
    index = {"name": "JOB_COMPLETION_INDEX",
             "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}}
    pod = trainer_pod(spec, container="trainer", args=torchrun_args(spec), env=[index], port_name="rendezvous")
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
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels,
                     "annotations": {SUBMISSION_ANNOTATION: spec.submission}},
        "spec": {
            "completionMode": "Indexed", "completions": spec.nodes, "parallelism": spec.nodes,
            "backoffLimit": 0, "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": labels}, "spec": {**pod, "subdomain": spec.name}},
        },
    }
    return [service, job]
