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
                           nproc_per_node=2, gpus_per_node=2, staging_run="0123456789abcdef" * 2, model="churn",
                           tracking_uri="http://mlflow.ml:5000", env_secret="mlflow-credentials", submission="abc123")


def test_every_object_validates_against_the_kubernetes_schemas(spec):
    for cpu_or_gpu in (spec, spec.model_copy(update={"gpus_per_node": 0, "env_secret": None})):
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
    assert job["metadata"]["annotations"] == {"opsagent.io/submission": "abc123"}


def test_each_pod_fetches_the_staged_job_before_torchrun_starts(spec):
    """The init container downloads the staging run into the pod's job directory, which the trainer mounts;
    both get the tracking server from their environment (and the Secret's keys), not from the request."""
    _, job = render_training_job(spec)
    pod = job["spec"]["template"]["spec"]
    (fetch,), (trainer,) = pod["initContainers"], pod["containers"]
    assert fetch["args"] == ["-m", "ml_core.distributed.staging", "--run", spec.staging_run, "--to",
                             "/var/lib/opsagent-job"]
    for container in (fetch, trainer):
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["OPSAGENT_MLFLOW_TRACKING_URI"] == "http://mlflow.ml:5000"
        assert container["envFrom"] == [{"secretRef": {"name": "mlflow-credentials"}}]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["job"] == "/var/lib/opsagent-job"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["job"] == {"name": "job", "emptyDir": {}}  # no shared volume: each pod fetches its own copy


def test_an_unstaged_job_is_not_rendered(spec):
    with pytest.raises(ValueError, match="stage the job directory first"):
        render_training_job(spec.model_copy(update={"staging_run": ""}))


@pytest.mark.parametrize("change", [{"name": "Churn_Train"}, {"name": "x" * 53}, {"nodes": 0}, {"image": ""},
                                    {"staging_run": "not-a-run-id"}])
def test_bad_spec_is_refused(change):
    fields = {"name": "churn-train", "image": "opsagent:1", **change}
    with pytest.raises(ValidationError):
        TrainingJobSpec(**fields)


@pytest.mark.parametrize(("change", "words"), [
    ({"cpu": "2 cores"}, "not a Kubernetes quantity; write cores as 2 or 0.5"),
    ({"memory": "4GB"}, "not a Kubernetes quantity; write bytes with a suffix"),
    ({"memory_limit": "-1Gi"}, "not a Kubernetes quantity"),
    ({"cpu": "2", "cpu_limit": "500m"}, "the cpu limit 500m is below the cpu request 2"),
    ({"memory": "8Gi", "memory_limit": "4Gi"}, "the memory limit 4Gi is below the memory request 8Gi"),
])
def test_bad_pod_resources_are_refused_with_what_to_write(change, words):
    with pytest.raises(ValidationError, match=words):
        TrainingJobSpec(name="churn-train", image="opsagent:1", **change)


def test_pod_resources_become_requests_and_limits(spec):
    chosen = spec.model_copy(update={"cpu": "500m", "cpu_limit": "1.5", "memory": "2Gi", "memory_limit": "3Gi"})
    _, job = render_training_job(TrainingJobSpec(**chosen.model_dump()))
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "500m", "memory": "2Gi"},
                                                 "limits": {"cpu": "1.5", "memory": "3Gi", "nvidia.com/gpu": 2}}
    assert pod["initContainers"][0]["resources"]["limits"] == {"memory": "3Gi"}
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    default = render_training_job(spec.model_copy(update={"gpus_per_node": 0}))[1]["spec"]["template"]["spec"]
    assert default["containers"][0]["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                                     "limits": {"memory": "4Gi"}}  # no CPU limit, memory = request
