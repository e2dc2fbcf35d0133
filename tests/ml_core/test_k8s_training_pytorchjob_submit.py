"""Training as a Kubeflow PyTorchJob through the real ``kubernetes`` client against the loopback API stand-in,
whose training operator (k8s_standin_pytorchjobs) runs the job as Kubeflow's does; and the choice of kind
from API discovery. Fixtures and helpers: test_k8s_training_submit (MLflow on SQLite, rank 0's registration)."""

from __future__ import annotations

import pytest
import test_k8s_training_submit as base
from k8s_standin import ApiStandIn
from test_k8s_training_submit import MODEL, as_rank0, runner, spec_for

from ml_core.deploy.kubernetes.api import make_api_client
from ml_core.deploy.kubernetes.training_kinds import TrainingJobError, resolve_kind
from ml_core.deploy.kubernetes.training_pytorchjob import render_pytorchjob

JOBS = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
registry, data, request_ = base.registry, base.data, base.request_  # the same fixtures: MLflow on SQLite, churn rows


@pytest.fixture
def k8s():
    with ApiStandIn(pytorchjob=True) as standin:
        yield standin


def posts(k8s: ApiStandIn, suffix: str) -> list[int]:
    return [code for method, path, code in k8s.requests if method == "POST" and path.endswith(suffix)]


@pytest.mark.parametrize(("installed", "choice", "kind"), [(True, "auto", "pytorchjob"), (False, "auto", "indexed"),
                                                           (True, "indexed", "indexed"),
                                                           (True, "pytorchjob", "pytorchjob")])
def test_the_kind_follows_api_discovery_unless_forced(installed, choice, kind):
    with ApiStandIn(pytorchjob=installed) as standin:
        assert resolve_kind(choice, make_api_client(host=standin.url), retry_base_s=0.001) == kind
        asked = [p for _, p, _ in standin.requests]
        assert asked == ([] if choice == "indexed" else ["/apis/kubeflow.org/v1"])


def test_forcing_pytorchjob_on_a_cluster_without_the_crd_says_what_to_install():
    with ApiStandIn() as standin, pytest.raises(TrainingJobError) as err:
        resolve_kind("pytorchjob", make_api_client(host=standin.url), retry_base_s=0.001)
    assert "does not serve kubeflow.org/v1 pytorchjobs (no PyTorchJob CRD)" in str(err.value)
    assert "install Kubeflow's training operator" in str(err.value) and "--k8s-job indexed" in str(err.value)


def test_a_pytorchjob_runs_to_succeeded_and_reports_the_version_rank_0_registered(registry, k8s, request_, data):
    k8s.pytorchjobs.on_job_finished = as_rank0(registry, "succeed")
    spec = spec_for(request_, data, registry, nodes=3, kind="pytorchjob")
    lines: list[str] = []
    outcome = runner(registry, k8s).run(spec, request_, data, timeout_s=30, on_progress=lines.append)
    assert (outcome.job, outcome.version, outcome.reattached) == (spec.name, "1", False)
    assert posts(k8s, "/pytorchjobs") == [201] and posts(k8s, "/services") == [] and posts(k8s, "/jobs") == []
    assert any("Created, 0/3 pods succeeded" in line and "3 Pending" in line for line in lines)
    assert any("Running, 0/3 pods succeeded, 3 active" in line and "3 Running" in line for line in lines)
    assert any("Succeeded, 3/3 pods succeeded" in line for line in lines)
    job = k8s.get("pytorchjobs", spec.name)
    assert [c["type"] for c in job["status"]["conditions"] if c["status"] == "True"] == ["Created", "Succeeded"]
    # the operator's pods: master-0 is node 0, worker-i node i + 1, and torchrun's node rank is that variable
    pods = {p["metadata"]["name"]: p for p in k8s.of_kind("pods")}
    assert sorted(pods) == [f"{spec.name}-master-0", f"{spec.name}-worker-0", f"{spec.name}-worker-1"]
    env = {e["name"]: e["value"] for e in pods[f"{spec.name}-worker-1"]["spec"]["containers"][0]["env"]
           if "value" in e}
    assert (env["PET_NODE_RANK"], env["PET_NNODES"], env["PET_MASTER_ADDR"]) == ("2", "3", f"{spec.name}-master-0")
    assert env["OPSAGENT_MLFLOW_TRACKING_URI"] == registry.tracking_uri


def test_the_same_submission_again_follows_the_pytorchjob(registry, k8s, request_, data):
    k8s.pytorchjobs.on_job_finished = as_rank0(registry, "succeed")
    first = runner(registry, k8s).run(spec_for(request_, data, registry, kind="pytorchjob"), request_, data,
                                      timeout_s=30)
    again = runner(registry, k8s).run(spec_for(request_, data, registry, kind="pytorchjob"), request_, data,
                                      timeout_s=30)
    assert (again.job, again.version, again.reattached) == (first.job, first.version, True)
    assert posts(k8s, "/pytorchjobs") == [201] and len(registry.versions(MODEL)) == 1
    # the same request as an Indexed Job is another submission: another name, so the two never collide
    assert spec_for(request_, data, registry).name != first.job


def test_a_pytorchjob_of_that_name_for_another_submission_is_refused(registry, k8s, request_, data):
    spec = spec_for(request_, data, registry, name="nightly-churn", kind="pytorchjob")
    k8s.pytorchjobs.outcome = "hang"
    theirs = spec.model_copy(update={"staging_run": "a" * 32, "submission": "someone-else"})
    assert k8s.handle("POST", JOBS, render_pytorchjob(theirs))[0] == 201
    with pytest.raises(TrainingJobError, match="a PyTorchJob named nightly-churn exists in default for another"):
        runner(registry, k8s).run(spec, request_, data, timeout_s=5)
    assert posts(k8s, "/pytorchjobs") == []


def test_an_oom_killed_worker_fails_the_pytorchjob_and_leaves_no_version(registry, k8s, request_, data):
    k8s.pytorchjobs.outcome = "oom"
    k8s.pytorchjobs.on_job_finished = as_rank0(registry, "oom")
    spec = spec_for(request_, data, registry, kind="pytorchjob")
    with pytest.raises(TrainingJobError) as err:
        runner(registry, k8s).run(spec, request_, data, timeout_s=30)
    message = str(err.value)
    assert f"PyTorchJobFailed: PyTorchJob default/{spec.name} is failed because 1 replica(s) failed" in message
    assert f"pod {spec.name}-worker-0: pytorch OOMKilled (exit code 137)" in message and "give it more" in message
    assert f"kubectl describe pytorchjob {spec.name}" in message and registry.versions(MODEL) == []


def test_a_worker_that_cannot_pull_its_image_is_named(registry, k8s, request_, data):
    k8s.pytorchjobs.outcome = "image_pull"
    spec = spec_for(request_, data, registry, nodes=3, kind="pytorchjob")
    with pytest.raises(TrainingJobError) as err:
        runner(registry, k8s).run(spec, request_, data, timeout_s=30)
    message = str(err.value)
    assert f"pod {spec.name}-worker-1: fetch-job ImagePullBackOff" in message and "cannot pull the image" in message
    assert f"pod {spec.name}-master-0: pytorch exited with code 1" in message


def test_an_unschedulable_pytorchjob_times_out_saying_why(registry, k8s, request_, data):
    k8s.pytorchjobs.outcome = "unschedulable"
    spec = spec_for(request_, data, registry, kind="pytorchjob")
    with pytest.raises(TrainingJobError, match="did not finish within 0.3 s") as err:
        runner(registry, k8s).run(spec, request_, data, timeout_s=0.3)
    assert "no node has the CPU, memory or GPUs" in str(err.value)
    assert f"kubectl get pytorchjob {spec.name}" in str(err.value)


def test_api_server_errors_on_the_custom_objects_api_are_retried(registry, k8s, request_, data):
    k8s.pytorchjobs.on_job_finished = as_rank0(registry, "succeed")
    k8s.fail_next(503, count=2, method="GET", path="/pytorchjobs/")
    k8s.fail_next(503, count=1, method="POST", path="/pytorchjobs")
    outcome = runner(registry, k8s).run(spec_for(request_, data, registry, kind="pytorchjob"), request_, data,
                                        timeout_s=30)
    assert outcome.version == "1" and posts(k8s, "/pytorchjobs") == [503, 201]
