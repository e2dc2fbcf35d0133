"""The deployment backend the settings name (``OPSAGENT_DEPLOY_BACKEND``), built for one model.

One place maps settings to a backend, so the CLI, the tools and remediation deploy the same way."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from agent.settings import Settings
from ml_core.deploy.base import DeploymentBackend

if TYPE_CHECKING:
    from ml_core.deploy.kubernetes.manifests import KubeSpec
    from ml_core.registry import Registry

BackendName = Literal["local", "kubernetes"]


def kube_spec(settings: Settings) -> KubeSpec:
    """How the cluster runs a model's scoring service, from the ``OPSAGENT_K8S_*`` settings."""
    from ml_core.deploy.kubernetes.manifests import KubeSpec

    return KubeSpec(namespace=settings.k8s_namespace, image=settings.k8s_image, replicas=settings.k8s_replicas,
                    cpu=settings.k8s_cpu, memory=settings.k8s_memory, tracking_uri=settings.mlflow_tracking_uri,
                    rollout_timeout_s=settings.k8s_rollout_timeout_s, env_secret=settings.k8s_env_secret)


def spec_yaml(settings: Settings, model: str) -> str | None:
    """The model's spec file, shipped to the pods with the routing (built-in specs are in the image too)."""
    from ml_core.spec.store import SpecStore

    path = SpecStore(settings.layout).path(model)
    return path.read_text(encoding="utf-8") if path.is_file() else None


def tracking_warning(settings: Settings) -> str | None:
    """Why pods could not load versions: a registry on this machine's disk is out of their reach."""
    uri = settings.mlflow_tracking_uri
    if uri and not uri.startswith(("sqlite:", "file:", "/")):
        return None
    return ("OPSAGENT_MLFLOW_TRACKING_URI is unset or local: the pods cannot reach this machine's SQLite registry; "
            "set it to an MLflow tracking server (or a database) the cluster can reach")


def make_backend(settings: Settings, model: str, registry: Registry, *, backend: BackendName | None = None,
                 latency_budget_ms: float | None = None, port: int | None = None) -> DeploymentBackend:
    """``backend`` (default ``settings.deploy_backend``) for ``model``; ``port`` only matters locally."""
    if (backend or settings.deploy_backend) == "kubernetes":
        from ml_core.deploy.kubernetes.backend import KubernetesBackend

        return KubernetesBackend(model, registry, kube_spec(settings), kubeconfig=settings.k8s_kubeconfig,
                                 context=settings.k8s_context, spec_yaml=spec_yaml(settings, model),
                                 latency_budget_ms=latency_budget_ms)
    from ml_core.deploy.local import LocalBackend

    return LocalBackend(settings.layout, model, registry, port, host=settings.serve_host,
                        latency_budget_ms=latency_budget_ms)
