"""Where a retrain proposal trains (agent.k8s_training): refusals before any data loads, each saying what to do."""

from __future__ import annotations

import pytest

from agent.k8s_training import pod_fields, retrain_trainer
from agent.settings import Settings


def test_the_local_backend_trains_here_and_refuses_several_nodes(tmp_path):
    settings = Settings(home=tmp_path)
    assert retrain_trainer(settings, None, nodes=1, nproc=2) is None  # type: ignore[arg-type]  # the pipeline's own
    with pytest.raises(ValueError, match="nodes=2 .*OPSAGENT_TRAIN_BACKEND=kubernetes"):
        retrain_trainer(settings, None, nodes=2, nproc=1)  # type: ignore[arg-type]


def test_the_kubernetes_backend_refuses_a_registry_the_pods_cannot_reach(tmp_path):
    settings = Settings(home=tmp_path, train_backend="kubernetes")  # MLflow on this home's SQLite
    with pytest.raises(ValueError, match="pods cannot reach .*OPSAGENT_MLFLOW_TRACKING_URI"):
        retrain_trainer(settings, None, nodes=2, nproc=1)  # type: ignore[arg-type]
    served = Settings(home=tmp_path, train_backend="kubernetes", mlflow_tracking_uri="http://mlflow:5000")
    assert callable(retrain_trainer(served, None, nodes=2, nproc=1))  # type: ignore[arg-type]


def test_pod_fields_follow_the_settings_and_the_device(tmp_path):
    settings = Settings(home=tmp_path, k8s_train_cpu="1", k8s_train_memory="2Gi")
    assert pod_fields(settings, "indexed", 2, "cpu") == {"kind": "indexed", "cpu": "1", "cpu_limit": None,
                                                          "memory": "2Gi", "memory_limit": None, "gpus_per_node": 0}
    assert pod_fields(settings, "pytorchjob", 2, "cuda")["gpus_per_node"] == 2
