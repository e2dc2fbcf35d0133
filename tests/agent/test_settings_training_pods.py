"""The training pods' settings (OPSAGENT_K8S_TRAIN_*): read from the environment, refused with what to write."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent.settings import Settings


def test_training_pod_settings_come_from_the_environment(monkeypatch, tmp_path):
    for key, value in {"HOME": str(tmp_path), "K8S_TRAIN_JOB": "pytorchjob", "K8S_TRAIN_CPU": " 1500m ",
                       "K8S_TRAIN_CPU_LIMIT": "2", "K8S_TRAIN_MEMORY": "6Gi", "K8S_TRAIN_GPUS": "1"}.items():
        monkeypatch.setenv(f"OPSAGENT_{key}", value)
    s = Settings()
    assert (s.k8s_train_job, s.k8s_train_cpu, s.k8s_train_cpu_limit, s.k8s_train_memory, s.k8s_train_memory_limit,
            s.k8s_train_gpus) == ("pytorchjob", "1500m", "2", "6Gi", None, 1)
    for key in ("K8S_TRAIN_JOB", "K8S_TRAIN_CPU", "K8S_TRAIN_CPU_LIMIT", "K8S_TRAIN_MEMORY", "K8S_TRAIN_GPUS"):
        monkeypatch.delenv(f"OPSAGENT_{key}")
    d = Settings()
    assert (d.k8s_train_job, d.k8s_train_cpu, d.k8s_train_cpu_limit, d.k8s_train_memory, d.k8s_train_gpus) == (
        "auto", "2", None, "4Gi", None)


@pytest.mark.parametrize(("fields", "words"), [
    ({"k8s_train_cpu": "two"}, "'two' is not a Kubernetes quantity; write cores as 2 or 0.5"),
    ({"k8s_train_memory_limit": "1 GB"}, "'1 GB' is not a Kubernetes quantity; write bytes with a suffix"),
    ({"k8s_train_cpu": "4", "k8s_train_cpu_limit": "3500m"}, "the cpu limit 3500m is below the cpu request 4"),
    ({"k8s_train_job": "mpijob"}, "Input should be 'auto', 'indexed' or 'pytorchjob'"),
    ({"k8s_train_gpus": -1}, "greater than or equal to 0"),
])
def test_bad_training_pod_settings_are_refused(tmp_path, fields, words):
    with pytest.raises(ValidationError, match=words):
        Settings(home=tmp_path, **fields)


def test_a_limit_below_its_request_in_the_environment_is_a_message_not_a_traceback(tmp_path):
    """A check across two settings has no field in its location: the CLI still names both, exit 2."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPSAGENT_HOME": str(tmp_path), "OPSAGENT_K8S_TRAIN_CPU": "4",
           "OPSAGENT_K8S_TRAIN_CPU_LIMIT": "2", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "interfaces.cli.main", "models", "list"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "invalid settings from the environment or the config file" in out.stderr + out.stdout
    assert "the cpu limit 2 is below the cpu request 4" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr and "OPSAGENT_:" not in out.stderr + out.stdout  # no empty setting name
