"""The backend on a real cluster (kind or minikube): deploy, canary, promote and roll back the scoring service,
and run a two-pod training Job.

Marked ``k8s`` and skipped unless ``KUBECONFIG`` names a cluster, ``OPSAGENT_K8S_IMAGE`` an image the cluster can
run (the Dockerfile's; with kind, ``kind load docker-image``), and ``OPSAGENT_MLFLOW_TRACKING_URI`` a tracking
server both this machine and the pods reach. The README's "Run it on Kubernetes" says how to set them up."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from ml_core.deploy.kubernetes import KubernetesBackend, KubeSpec
from ml_core.paths import HomeLayout
from ml_core.registry import Registry

NEEDS = ("KUBECONFIG", "OPSAGENT_K8S_IMAGE", "OPSAGENT_MLFLOW_TRACKING_URI")
pytestmark = [pytest.mark.k8s, pytest.mark.live, pytest.mark.slow,
              pytest.mark.skipif(not all(os.environ.get(v) for v in NEEDS),
                                 reason=f"needs a cluster: set {', '.join(NEEDS)} (README, 'Run it on Kubernetes')")]


@pytest.fixture(scope="module")
def versions(tmp_path_factory, churn_df):
    """Two trained churn versions in the shared tracking server, both passed the gate."""
    from ml_core.data.churn import CHURN_SCHEMA
    from ml_core.jobs import train_and_register
    from ml_core.training import TrainConfig

    layout = HomeLayout(tmp_path_factory.mktemp("live") / "home").ensure()
    registry = Registry(layout, os.environ["OPSAGENT_MLFLOW_TRACKING_URI"])
    out = []
    for seed in (1, 2):
        job = train_and_register(registry, churn_df, TrainConfig(epochs=2, seed=seed, exclude_columns=("state",)),
                                 model_name="churn", schema=CHURN_SCHEMA, with_baseline=False)
        registry.mark_ready("churn", job.version)
        out.append(job.version)
    return registry, out


def test_deploy_canary_promote_rollback_on_a_cluster(versions) -> None:
    from kubernetes import client

    registry, (v1, v2) = versions
    namespace = os.environ.get("OPSAGENT_K8S_NAMESPACE", f"opsagent-live-{uuid.uuid4().hex[:6]}")
    kube = KubeSpec(namespace=namespace, image=os.environ["OPSAGENT_K8S_IMAGE"], replicas=2,
                    tracking_uri=os.environ["OPSAGENT_MLFLOW_TRACKING_URI"], rollout_timeout_s=300)
    backend = KubernetesBackend("churn", registry, kube, context=os.environ.get("OPSAGENT_K8S_CONTEXT"))
    core = client.CoreV1Api(backend.api_client)
    created = "OPSAGENT_K8S_NAMESPACE" not in os.environ
    if created:
        core.create_namespace({"metadata": {"name": namespace}})
    try:
        s = backend.start(v1)
        assert s.ready and s.champion == v1, s.ready_reason
        s = backend.deploy_canary(v2, 0.2)
        assert s.ready and (s.canary, s.canary_weight) == (v2, 0.2), s.ready_reason
        s = backend.promote()
        assert s.ready and (s.champion, s.previous_champion) == (v2, v1)
        s = backend.rollback()
        assert s.ready and s.champion == v1
        health = backend.workload_health()
        assert health is not None and health.ready == 2 and not health.problems
    finally:
        if created:
            core.delete_namespace(namespace)


def test_a_training_job_on_a_cluster_registers_one_version(churn_df) -> None:
    """Two pods rendezvous through torchrun (gloo, one process each); rank 0 registers in the shared server."""
    from ml_core.data.churn import CHURN_SCHEMA
    from ml_core.deploy.kubernetes.api import make_api_client
    from ml_core.deploy.kubernetes.training_submit import TrainingJobRunner, training_job_for
    from ml_core.distributed.job import JobRequest
    from ml_core.training import TrainConfig

    home = HomeLayout(Path(os.environ.get("TMPDIR", "/tmp")) / f"opsagent-live-train-{uuid.uuid4().hex[:6]}")
    registry = Registry(home.ensure(), os.environ["OPSAGENT_MLFLOW_TRACKING_URI"])
    namespace = os.environ.get("OPSAGENT_K8S_NAMESPACE", "default")
    request = JobRequest(launch_id="", home="", tracking_uri="", model_name="churn-live-train", schema=CHURN_SCHEMA,
                         config=TrainConfig(epochs=2, seed=uuid.uuid4().int % 1000, exclude_columns=("state",)))
    spec = training_job_for(request, churn_df, image=os.environ["OPSAGENT_K8S_IMAGE"], namespace=namespace,
                            nodes=2, tracking_uri=os.environ["OPSAGENT_MLFLOW_TRACKING_URI"])
    api_client = make_api_client(context=os.environ.get("OPSAGENT_K8S_CONTEXT"))
    outcome = TrainingJobRunner(api_client, registry).run(spec, request, churn_df, timeout_s=1200, on_progress=print)
    versions = [v for v in registry.versions("churn-live-train") if v.tags.get("opsagent.launch") == spec.name]
    assert [v.version for v in versions] == [outcome.version] and versions[0].tags["opsagent.nproc"] == "2"
