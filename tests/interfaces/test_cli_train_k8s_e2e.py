"""`opsagent train --backend kubernetes` end to end: the CLI as a subprocess, a kubeconfig pointing at the
loopback API stand-in with Kubeflow's PyTorchJob served, whose kubelet (k8s_standin_kubelet) runs each pod's
fetch and torchrun commands as real processes against a real `mlflow server` on loopback. Two pods, one
process each, gloo on CPU: the version rank 0 registered is read back, gated and given its alias."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml_core"))
from k8s_standin import ApiStandIn  # noqa: E402
from k8s_standin_kubelet import ProcessKubelet  # noqa: E402

from ml_core.distributed.job import LAUNCH_TAG  # noqa: E402
from tests.mlflow_server import running_mlflow_server  # noqa: E402

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")
pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(tmp_path):
    with running_mlflow_server(tmp_path) as url:
        yield url


def test_train_runs_as_a_pytorchjob_whose_pods_train_for_real(tmp_path, mlflow_server):
    with ApiStandIn(pytorchjob=True) as standin:
        standin.pytorchjobs.kubelet = ProcessKubelet(tmp_path / "pods", standin.lock, lambda: "2026-01-01T00:00:00Z")
        kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OPSAGENT_", "KUBE", "MLFLOW_"))}
        env = {**base, "HOME": str(tmp_path), "OPSAGENT_HOME": str(tmp_path / "home"), "COLUMNS": "200",
               "OPSAGENT_MLFLOW_TRACKING_URI": mlflow_server, "OPSAGENT_K8S_IMAGE": "opsagent:test"}
        started = time.monotonic()
        result = subprocess.run([OPSAGENT, "train", "--backend", "kubernetes", "--kubeconfig", str(kubeconfig),
                                 "--nodes", "2", "--epochs", "2", "--pod-cpu", "1", "--pod-memory", "2Gi",
                                 "--timeout", "600"], capture_output=True, text=True, env=env, timeout=900)
        seconds = time.monotonic() - started
        logs = "\n".join(f"--- {p}\n{p.read_text()[-1500:]}" for p in sorted((tmp_path / "pods").glob("*/*.log")))
        job = standin.of_kind("pytorchjobs")
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout + result.stderr + logs
    assert "on Kubernetes: PyTorchJob default/churn-train-" in out and "2 pod(s) x 1 process(es)" in out
    assert "rank 0 registered churn v1" in out and "alias: champion" in out
    assert len(job) == 1 and job[0]["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    pod = job[0]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    assert pod["resources"]["requests"] == {"cpu": "1", "memory": "2Gi"}
    # The registry too: a Registry opened earlier in this process (another test of this worker) set the global one.
    versions = MlflowClient(mlflow_server, registry_uri=mlflow_server).search_model_versions("name='churn'")
    assert [v.tags.get(LAUNCH_TAG) for v in versions] == [job[0]["metadata"]["name"]]
    print(f"end to end: {seconds:.0f} s")
