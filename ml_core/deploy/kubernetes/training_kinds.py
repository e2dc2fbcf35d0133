"""Which resource a training run becomes on the cluster, and that resource's calls to the API.

``--k8s-job auto`` (the default) asks API discovery whether the cluster serves ``kubeflow.org/v1``
``pytorchjobs`` (Kubeflow's training operator is installed): then a ``PyTorchJob``, which the operator
watches, restarts and reports; else the Indexed Job and headless Service, which need nothing but Kubernetes.
``indexed`` and ``pytorchjob`` force one; ``pytorchjob`` on a cluster without the CRD is refused, saying so.

``IndexedJobs`` and ``PyTorchJobs`` give ``TrainingJobRunner`` the same four calls whatever the kind: read the
job (None when absent), create it (False when it exists: a 409), which pods are its own, and clean up once it
finished (the Indexed Job's Service; the operator removes its own Services).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from kubernetes import client

from ml_core.deploy.base import DeploymentError
from ml_core.deploy.kubernetes import api
from ml_core.deploy.kubernetes import training_pytorchjob as kf
from ml_core.deploy.kubernetes.training_job import (
    JOB_NAME_LABEL,
    SUBMISSION_ANNOTATION,
    JobKind,
    JobState,
    TrainingJobSpec,
    render_training_job,
)

JobChoice = Literal["auto", "indexed", "pytorchjob"]
CHOICES: tuple[str, ...] = ("auto", "indexed", "pytorchjob")
INSTALL_HINT = ("install Kubeflow's training operator (kubectl apply --server-side -k "
                "\"github.com/kubeflow/training-operator.git/manifests/overlays/standalone?ref=v1.9.0\"), or train "
                "as an Indexed Job: --k8s-job indexed (or auto)")


class TrainingJobError(DeploymentError):
    """The Job failed, timed out, or was not this submission; the message says why and what to do."""


class TrainingJobTimeout(TrainingJobError):
    """The Job still ran at the end of the wait; it is left running, and the same submission follows it again."""


def pytorchjob_served(api_client: client.ApiClient, *, retry_base_s: float = 0.2) -> bool:
    """Whether discovery lists ``pytorchjobs`` in ``kubeflow.org/v1`` (a 404: the group is not served)."""
    found = api.exists(client.CustomObjectsApi(api_client).get_api_resources, kf.GROUP, kf.VERSION,
                       what="API discovery (kubeflow.org/v1)", retry_base_s=retry_base_s)
    return found is not None and any(r.name == kf.PLURAL for r in found.resources or [])


def resolve_kind(choice: str, api_client: client.ApiClient, *, retry_base_s: float = 0.2) -> JobKind:
    """The kind ``choice`` means on this cluster; ``TrainingJobError`` when ``pytorchjob`` is forced and the
    cluster does not serve it."""
    if choice not in CHOICES:
        raise ValueError(f"the training job kind must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "indexed":
        return "indexed"
    served = pytorchjob_served(api_client, retry_base_s=retry_base_s)
    if choice == "pytorchjob" and not served:
        raise TrainingJobError(f"--k8s-job pytorchjob: this cluster does not serve {kf.GROUP}/{kf.VERSION} "
                               f"{kf.PLURAL} (no PyTorchJob CRD); {INSTALL_HINT}")
    return "pytorchjob" if served else "indexed"


class JobKindCalls(Protocol):
    """What the runner asks of a kind of training job."""

    def read(self, spec: TrainingJobSpec) -> JobState | None: ...
    def create(self, spec: TrainingJobSpec) -> bool: ...
    def pod_selector(self, spec: TrainingJobSpec) -> str: ...
    def finished(self, spec: TrainingJobSpec) -> None: ...


class IndexedJobs:
    """A ``batch/v1`` Indexed Job with its headless Service."""

    def __init__(self, api_client: client.ApiClient, retry_base_s: float):
        self.batch, self.core, self.retry_base_s = client.BatchV1Api(api_client), client.CoreV1Api(api_client), \
            retry_base_s

    def read(self, spec: TrainingJobSpec) -> JobState | None:
        job = api.exists(self.batch.read_namespaced_job, spec.name, spec.namespace, what="read the training Job",
                         retry_base_s=self.retry_base_s)
        if job is None:
            return None
        st = job.status
        counts = f"{st.succeeded or 0}/{spec.nodes} pods succeeded, {st.active or 0} active, {st.failed or 0} failed"
        submission = (job.metadata.annotations or {}).get(SUBMISSION_ANNOTATION)
        done = next((c for c in st.conditions or [] if c.type in ("Complete", "Failed") and c.status == "True"),
                    None)
        if done is None:
            return JobState("running", "", counts, submission)
        why = f"{done.reason or done.type}: {done.message or ''}".strip(": ")
        return JobState("succeeded" if done.type == "Complete" else "failed", why, counts, submission)

    def create(self, spec: TrainingJobSpec) -> bool:
        service, job = render_training_job(spec)
        api.create(self.core.create_namespaced_service, spec.namespace, service, what="create the rendezvous Service",
                   retry_base_s=self.retry_base_s)
        return api.create(self.batch.create_namespaced_job, spec.namespace, job, what="create the training Job",
                          retry_base_s=self.retry_base_s) is not None

    def pod_selector(self, spec: TrainingJobSpec) -> str:
        return f"{JOB_NAME_LABEL}={spec.name}"

    def finished(self, spec: TrainingJobSpec) -> None:
        api.exists(self.core.delete_namespaced_service, spec.name, spec.namespace,
                   what="delete the rendezvous Service", retry_base_s=self.retry_base_s)


class PyTorchJobs:
    """A Kubeflow ``PyTorchJob``, through the custom-objects API (its bodies are plain dicts)."""

    def __init__(self, api_client: client.ApiClient, retry_base_s: float):
        self.custom, self.retry_base_s = client.CustomObjectsApi(api_client), retry_base_s

    def read(self, spec: TrainingJobSpec) -> JobState | None:
        job: Any = api.exists(self.custom.get_namespaced_custom_object, kf.GROUP, kf.VERSION, spec.namespace,
                              kf.PLURAL, spec.name, what="read the PyTorchJob", retry_base_s=self.retry_base_s)
        return None if job is None else kf.pytorchjob_state(job, spec.nodes)

    def create(self, spec: TrainingJobSpec) -> bool:
        return api.create(self.custom.create_namespaced_custom_object, kf.GROUP, kf.VERSION, spec.namespace,
                          kf.PLURAL, kf.render_pytorchjob(spec), what="create the PyTorchJob",
                          retry_base_s=self.retry_base_s) is not None

    def pod_selector(self, spec: TrainingJobSpec) -> str:
        return f"{kf.JOB_NAME_LABEL}={spec.name}"

    def finished(self, spec: TrainingJobSpec) -> None:
        return None  # the operator owns the per-replica Services; the TTL removes the job, its pods and them


def delete_command(name: str, namespace: str, kind: str) -> str:
    """How a person removes a training job by hand: an Indexed Job with its rendezvous Service (same name; once the
    job is gone nothing else deletes it), a PyTorchJob alone (the operator removes its own Services)."""
    return f"kubectl delete {'pytorchjob' if kind == 'pytorchjob' else 'job,service'} {name} -n {namespace}"


def delete_training_job(api_client: client.ApiClient, name: str, namespace: str, kind: str, *,
                        retry_base_s: float = 0.2) -> bool:
    """Delete a training job nobody will follow any more (its proposal was given up while it ran): the PyTorchJob,
    or the Indexed Job and its rendezvous Service, their pods with them (in the background, as ``kubectl delete``
    does). True when the job was there to delete; API errors raise ``DeploymentError``."""
    gone = client.V1DeleteOptions(propagation_policy="Background")
    if kind == "pytorchjob":
        return api.exists(client.CustomObjectsApi(api_client).delete_namespaced_custom_object, kf.GROUP, kf.VERSION,
                          namespace, kf.PLURAL, name, body=gone, what="delete the PyTorchJob",
                          retry_base_s=retry_base_s) is not None
    found = api.exists(client.BatchV1Api(api_client).delete_namespaced_job, name, namespace, body=gone,
                       what="delete the training Job", retry_base_s=retry_base_s) is not None
    api.exists(client.CoreV1Api(api_client).delete_namespaced_service, name, namespace,
               what="delete the rendezvous Service", retry_base_s=retry_base_s)
    return found


def calls_for(kind: JobKind, api_client: client.ApiClient, retry_base_s: float) -> JobKindCalls:
    return (PyTorchJobs if kind == "pytorchjob" else IndexedJobs)(api_client, retry_base_s)
