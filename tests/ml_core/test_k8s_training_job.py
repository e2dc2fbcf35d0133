"""The Indexed training Job and its headless Service: valid Kubernetes objects, torchrun wired to the index."""

from __future__ import annotations

import kubernetes_validate
import pytest
from pydantic import ValidationError

from ml_core.deploy.kubernetes.training_job import TrainingJobSpec, render_training_job

K8S_VERSION = "1.37"  # the newest schema kubernetes-validate 1.37.0 ships; strict: unknown fields are errors


@pytest.fixture
def spec() -> TrainingJobSpec:
    return TrainingJobSpec(name="churn-train-1a2b", namespace="ml", image="registry.local/opsagent:1", nodes=3,
                           nproc_per_node=2, gpus_per_node=2, job_volume_claim="opsagent-jobs", model="churn")


def test_every_object_validates_against_the_kubernetes_schemas(spec):
    for cpu_or_gpu in (spec, spec.model_copy(update={"gpus_per_node": 0})):
        for manifest in render_training_job(cpu_or_gpu):
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_a_broken_object_is_refused_by_the_validator(spec):
    """The validation above can fail: a misspelt field is caught."""
    _, job = render_training_job(spec)
    job["spec"]["completionsMode"] = job["spec"].pop("completionMode")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_job_is_indexed_with_one_pod_per_node_and_torchrun_rendezvous_on_node_0(spec):
    service, job = render_training_job(spec)
    assert (job["kind"], job["spec"]["completionMode"]) == ("Job", "Indexed")
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 3 and job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] == "churn-train-1a2b"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"batch.kubernetes.io/job-name": "churn-train-1a2b"}
    args = pod["containers"][0]["args"]
    flag = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--")}
    assert flag["--nnodes"] == "3" and flag["--nproc-per-node"] == "2"
    assert flag["--node-rank"] == "$(JOB_COMPLETION_INDEX)"
    assert flag["--master-addr"] == "churn-train-1a2b-0.churn-train-1a2b" and flag["--master-port"] == "29500"
    assert args[args.index("-m", 2):] == ["-m", "ml_core.distributed", "--job", "/var/lib/opsagent-job"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert "job-completion-index" in env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2


@pytest.mark.parametrize("change", [{"name": "Churn_Train"}, {"name": "x" * 53}, {"nodes": 0}, {"image": ""}])
def test_bad_spec_is_refused(change):
    fields = {"name": "churn-train", "image": "opsagent:1", "job_volume_claim": "jobs", **change}
    with pytest.raises(ValidationError):
        TrainingJobSpec(**fields)
