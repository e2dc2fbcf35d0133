"""The Kubernetes deployment backend: a Deployment and Service per model, routing in ConfigMaps."""

from ml_core.deploy.kubernetes.backend import KubernetesBackend
from ml_core.deploy.kubernetes.manifests import KubeSpec, render, to_yaml

__all__ = ["KubeSpec", "KubernetesBackend", "render", "to_yaml"]
