"""Deployment backends: start the scoring service and move traffic between registry versions."""

from ml_core.deploy.base import DeploymentBackend, DeploymentError, DeploymentStatus

__all__ = ["DeploymentBackend", "DeploymentError", "DeploymentStatus"]
