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
    for words in ("--backend", "--nodes", "--kube-context", "--kubeconfig", "--job-name",
                  "OPSAGENT_MLFLOW_TRACKING_URI set to an MLflow server the cluster reaches", "Indexed Job"):
        assert words in text, words
