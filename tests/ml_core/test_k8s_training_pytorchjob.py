"""The Kubeflow PyTorchJob: valid against the training operator's own CRD schema (strict: an unknown field is
an error, as the API server's ``fieldValidation=Strict`` makes it), its pod template valid against the
Kubernetes schemas, shaped as the operator's webhook demands, and its status read as the operator writes it."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from ml_core.deploy.kubernetes.training_job import TrainingJobSpec
from ml_core.deploy.kubernetes.training_pytorchjob import pytorchjob_state, render_pytorchjob

K8S_VERSION = "1.37"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "kubeflow_pytorchjob_v1.json").read_text())


def strict(schema: Any) -> Any:
    """The CRD schema with unknown fields refused: every object that lists its properties, and does not
    preserve unknown fields, gets ``additionalProperties: false`` (the API server prunes or, with strict field
    validation, refuses what the schema does not name)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out and \
                not out.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


VALIDATOR = jsonschema.Draft7Validator(strict(SCHEMA))


@pytest.fixture
def spec() -> TrainingJobSpec:
    return TrainingJobSpec(name="churn-train-1a2b", namespace="ml", image="registry.local/opsagent:1", nodes=3,
                           nproc_per_node=2, gpus_per_node=2, staging_run="0123456789abcdef" * 2, model="churn",
                           tracking_uri="http://mlflow.ml:5000", env_secret="mlflow-credentials", submission="abc123",
                           kind="pytorchjob", cpu="4", cpu_limit="8", memory="16Gi", memory_limit="20Gi")


def test_the_pytorchjob_validates_against_the_operators_crd_schema(spec):
    for variant in (spec, spec.model_copy(update={"nodes": 1, "gpus_per_node": 0, "env_secret": None})):
        job = render_pytorchjob(variant)
        errors = [e.message for e in VALIDATOR.iter_errors(job)]
        assert errors == []
        for replica in job["spec"]["pytorchReplicaSpecs"].values():  # and each pod against Kubernetes' own
            template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": variant.name},
                        "template": replica["template"]}
            kubernetes_validate.validate(template, K8S_VERSION, strict=True)


@pytest.mark.parametrize("break_it", [
    lambda job: job["spec"].update(pytorchReplicaSpec=job["spec"].pop("pytorchReplicaSpecs")),  # misspelt
    lambda job: job["spec"]["runPolicy"].update(backoffLimit="none"),  # wrong type
    lambda job: job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0].update(
        resources={"limits": {"memory": "lots"}}),  # not a quantity
])
def test_a_broken_pytorchjob_is_refused_by_the_schema(spec, break_it):
    """The validation above can fail."""
    job = copy.deepcopy(render_pytorchjob(spec))
    break_it(job)
    assert list(VALIDATOR.iter_errors(job))


def test_one_master_and_the_other_nodes_as_workers_running_the_same_torchrun(spec):
    job = render_pytorchjob(spec)
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert (replicas["Master"]["replicas"], replicas["Worker"]["replicas"]) == (1, 2)
    assert replicas["Master"]["template"] == replicas["Worker"]["template"]
    assert job["spec"]["runPolicy"]["backoffLimit"] == 0 and replicas["Worker"]["restartPolicy"] == "Never"
    assert job["spec"]["nprocPerNode"] == "2"
    pod = replicas["Master"]["template"]["spec"]
    (fetch,), (trainer,) = pod["initContainers"], pod["containers"]
    assert fetch["name"] == "fetch-job" and trainer["name"] == "pytorch"  # the webhook's required name
    assert trainer["ports"] == [{"name": "pytorchjob-port", "containerPort": 29500}]  # where the operator looks
    args = trainer["args"]
    flag = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
    assert flag["--nnodes"] == "3" and flag["--nproc-per-node"] == "2"
    assert flag["--node-rank"] == "$(PET_NODE_RANK)"  # the operator's env: master 0, worker i -> i + 1
    assert flag["--master-addr"] == "churn-train-1a2b-master-0" and flag["--master-port"] == "29500"
    assert args[args.index("-m", 2):] == ["-m", "ml_core.distributed", "--job", "/var/lib/opsagent-job"]
    assert trainer["resources"] == {"requests": {"cpu": "4", "memory": "16Gi"},
                                    "limits": {"cpu": "8", "memory": "20Gi", "nvidia.com/gpu": 2}}
    assert job["metadata"]["annotations"] == {"opsagent.io/submission": "abc123"}
    single = render_pytorchjob(spec.model_copy(update={"nodes": 1}))["spec"]["pytorchReplicaSpecs"]
    assert list(single) == ["Master"]


def test_a_name_that_does_not_start_with_a_letter_is_refused_for_a_pytorchjob():
    with pytest.raises(ValueError, match="must start with a letter"):
        TrainingJobSpec(name="1churn-train", image="opsagent:1", kind="pytorchjob")
    assert TrainingJobSpec(name="1churn-train", image="opsagent:1").kind == "indexed"  # a Job may


def _job(*conditions: tuple[str, str], **replicas: dict[str, int]) -> dict[str, Any]:
    return {"metadata": {"annotations": {"opsagent.io/submission": "abc"}},
            "status": {"conditions": [{"type": t, "status": s, "reason": f"PyTorchJob{t}", "message": f"job {t}"}
                                      for t, s in conditions], "replicaStatuses": replicas}}


def test_status_is_read_from_the_latest_true_condition_and_the_replica_counts():
    created = pytorchjob_state({"metadata": {}}, 2)
    assert (created.outcome, created.counts, created.submission) == (
        "running", "not yet created, 0/2 pods succeeded, 0 active, 0 failed", None)
    running = pytorchjob_state(_job(("Created", "True"), ("Running", "True"), Master={"active": 1},
                                    Worker={"active": 1}), 2)
    assert (running.outcome, running.counts, running.submission) == (
        "running", "Running, 0/2 pods succeeded, 2 active, 0 failed", "abc")
    done = pytorchjob_state(_job(("Created", "True"), ("Running", "False"), ("Succeeded", "True"),
                                 Master={"succeeded": 1}, Worker={"succeeded": 1}), 2)
    assert (done.outcome, done.why) == ("succeeded", "PyTorchJobSucceeded: job Succeeded")
    failed = pytorchjob_state(_job(("Created", "True"), ("Running", "False"), ("Failed", "True"),
                                   Master={"active": 1}, Worker={"failed": 1}), 2)
    assert (failed.outcome, failed.why) == ("failed", "PyTorchJobFailed: job Failed")
    assert "1 active, 1 failed" in failed.counts
