"""`opsagent train --backend kubernetes` as a subprocess: each bad input is a message and exit 2, checked before
any data loads or any request reaches a cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPSAGENT_", "KUBE", "MLFLOW_"))}
    return subprocess.run([OPSAGENT, "train", "--backend", "kubernetes", *args], capture_output=True, text=True,
                          env={**base, "HOME": str(tmp_path), "OPSAGENT_HOME": str(tmp_path / "home"), **env},
                          timeout=300)


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--nodes", "0"], {}, "Invalid value for '--nodes'"),
    ([], {}, "the pods cannot reach this machine's registry (sqlite:"),
    ([], {"OPSAGENT_MLFLOW_TRACKING_URI": "file:///tmp/mlruns"}, "set OPSAGENT_MLFLOW_TRACKING_URI to an MLflow "
     "tracking server the cluster can reach"),
    ([], {"OPSAGENT_MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, "cannot configure the Kubernetes client"),
    (["--namespace", "Not_A_Label"], {}, "--namespace: String should match pattern"),
    (["--backend", "slurm"], {}, "--backend must be local or kubernetes"),
    (["--pod-cpu", "2 cores"], {}, "--pod-cpu: Value error, '2 cores' is not a Kubernetes quantity; write cores"),
    (["--pod-memory", "8Gi", "--pod-memory-limit", "4Gi"], {}, "the memory limit 4Gi is below the memory request"),
    (["--k8s-job", "slurm"], {}, "--k8s-job: Input should be 'auto', 'indexed' or 'pytorchjob'"),
    (["--pod-gpus", "1", "--device", "cpu"], {}, "--pod-gpus 1 with --device cpu: the pods would hold GPUs"),
    ([], {"OPSAGENT_K8S_TRAIN_MEMORY": "4 gigs"}, "'4 gigs' is not a Kubernetes quantity; write bytes"),
])
def test_bad_input_is_a_message_and_exit_2(tmp_path, args, env, message):
    result = run(tmp_path, *args, **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


def test_help_says_how_to_train_on_a_cluster(tmp_path):
    result = subprocess.run([OPSAGENT, "train", "--help"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "COLUMNS": "200"})
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    for words in ("--backend", "--nodes", "--kube-context", "--kubeconfig", "--job-name", "--k8s-job",
                  "--pod-cpu", "--pod-cpu-limit", "--pod-memory", "--pod-memory-limit", "--pod-gpus", "PyTorchJob",
                  "OPSAGENT_MLFLOW_TRACKING_URI set to an MLflow server the cluster reaches", "Indexed Job"):
        assert words in text, words


def test_a_forced_pytorchjob_on_a_cluster_without_the_crd_is_refused_before_any_data_loads(tmp_path):
    """The kubeconfig points at the loopback API stand-in, which serves no kubeflow.org/v1."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml_core"))
    from k8s_standin import ApiStandIn

    with ApiStandIn() as standin:
        kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
        result = run(tmp_path, "--k8s-job", "pytorchjob", "--kubeconfig", str(kubeconfig),
                     OPSAGENT_MLFLOW_TRACKING_URI="http://127.0.0.1:9")
        asked = [path for _, path, _ in standin.requests]
    assert result.returncode == 2, result.stdout + result.stderr
    text = " ".join(result.stderr.split())
    assert "does not serve kubeflow.org/v1 pytorchjobs (no PyTorchJob CRD)" in text and "Traceback" not in text
    assert asked == ["/apis/kubeflow.org/v1"]  # discovery only: nothing staged, nothing created
