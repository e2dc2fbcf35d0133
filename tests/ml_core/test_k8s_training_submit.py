"""A training Job submitted through the real ``kubernetes`` client to the loopback API stand-in (k8s_standin,
its Job controller in k8s_standin_jobs), staged in and read back from a real MLflow on SQLite.

No pod runs here, so nothing trains: where the Job succeeds, the stand-in's ``on_job_finished`` hook registers
in that MLflow what rank 0 would have registered (a version tagged ``opsagent.launch = <job name>``, pointing at
an empty artifact folder), and the test checks the submitter finds exactly that version. What each pod runs
first, the init container's fetch of the staged job, is run for real as a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from k8s_standin import ApiStandIn
from mlflow.entities import ViewType

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.deploy.kubernetes.api import make_api_client
from ml_core.deploy.kubernetes.training_job import render_training_job
from ml_core.deploy.kubernetes.training_submit import (
    TrainingJobError,
    TrainingJobRunner,
    job_name,
    training_job_for,
)
from ml_core.distributed.job import LAUNCH_TAG, JobFiles, JobRequest
from ml_core.distributed.staging import JOB_TAG, STAGING_EXPERIMENT, fetch_job
from ml_core.paths import HomeLayout
from ml_core.registry import Registry
from ml_core.training import TrainConfig

MODEL = "churn"


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(HomeLayout(tmp_path / "home").ensure())


@pytest.fixture
def data(churn_df: pd.DataFrame) -> pd.DataFrame:
    return churn_df.head(300).copy()


@pytest.fixture
def request_(registry: Registry) -> JobRequest:
    # home and tracking URI empty: the pods take them from their environment (a URI may carry a password)
    return JobRequest(launch_id="", home="", tracking_uri="", model_name=MODEL, schema=CHURN_SCHEMA,
                      config=TrainConfig(epochs=2, seed=7, exclude_columns=("state",)))


@pytest.fixture
def k8s():
    with ApiStandIn() as standin:
        yield standin


def as_rank0(registry: Registry, *outcomes: str):
    """The hook: when the Job ends in one of ``outcomes``, register what rank 0 would have (see the docstring)."""
    def register(job: dict[str, Any], outcome: str) -> None:
        if outcome in outcomes:
            source = Path(tempfile.mkdtemp(dir=registry.layout.home))
            registry.register(MODEL, source.as_uri(), {LAUNCH_TAG: job["metadata"]["name"]})
    return register


def runner(registry: Registry, k8s: ApiStandIn) -> TrainingJobRunner:
    return TrainingJobRunner(make_api_client(host=k8s.url), registry, poll_s=0.01, retry_base_s=0.001)


def spec_for(request: JobRequest, data: pd.DataFrame, registry: Registry, **change: Any):
    return training_job_for(request, data, **{"image": "opsagent:test", "nodes": 2,
                                              "tracking_uri": registry.tracking_uri, **change})


def posts(k8s: ApiStandIn, kind: str) -> list[int]:
    return [code for method, path, code in k8s.requests if method == "POST" and path.endswith(f"/{kind}")]


def test_a_job_runs_to_complete_and_reports_the_version_rank_0_registered(registry, k8s, request_, data):
    registry.register(MODEL, Path(tempfile.mkdtemp(dir=registry.layout.home)).as_uri(), {})  # an older v1
    k8s.jobs.on_job_finished = as_rank0(registry, "succeed")
    spec = spec_for(request_, data, registry)
    lines: list[str] = []
    outcome = runner(registry, k8s).run(spec, request_, data, timeout_s=30, on_progress=lines.append)
    assert (outcome.job, outcome.version, outcome.reattached) == (spec.name, "2", False)
    assert spec.name == job_name(MODEL, spec.submission) and spec.name.startswith("churn-train-")
    # the Service and the Job were created once each, the Service deleted after; the Job stays for its TTL
    assert posts(k8s, "services") == [201] and posts(k8s, "jobs") == [201]
    assert k8s.get("services", spec.name) is None and k8s.get("jobs", spec.name) is not None
    assert any("2 Pending" in line for line in lines) and any("2 Running" in line for line in lines)
    assert any("2/2 pods succeeded" in line for line in lines)
    # the pods were pointed at the staging run, and it holds this request (launch id = the job's name) and rows
    job = k8s.get("jobs", spec.name)
    run_id = job["spec"]["template"]["spec"]["initContainers"][0]["args"][3]
    assert registry.client.get_run(run_id).data.tags[JOB_TAG] == spec.name
    files = fetch_job(run_id, registry.layout.home / "fetched", registry.tracking_uri)
    staged, rows = files.read_request()
    assert staged.launch_id == spec.name and staged.tracking_uri == "" and staged.config == request_.config
    pd.testing.assert_frame_equal(rows, data.reset_index(drop=True))


def test_the_same_submission_again_follows_the_job_instead_of_creating_another(registry, k8s, request_, data):
    k8s.jobs.on_job_finished = as_rank0(registry, "succeed")
    first = runner(registry, k8s).run(spec_for(request_, data, registry), request_, data, timeout_s=30)
    again = runner(registry, k8s).run(spec_for(request_, data, registry), request_, data, timeout_s=30)
    assert (again.job, again.version, again.reattached) == (first.job, first.version, True)
    assert posts(k8s, "jobs") == [201] and len(registry.versions(MODEL)) == 1
    staging = registry.client.get_experiment_by_name(STAGING_EXPERIMENT)
    assert len(registry.client.search_runs([staging.experiment_id])) == 1  # staged once
    # another seed is another submission: another Job
    other = JobRequest(**{**request_.__dict__, "config": request_.config.model_copy(update={"seed": 8})})
    assert spec_for(other, data, registry).name != first.job


def test_a_409_from_a_concurrent_identical_submission_is_followed(registry, k8s, request_, data):
    """Another submitter creates the same Job between our read and our create: ours answers 409, we follow
    theirs and delete the staging run we made for nothing."""
    k8s.jobs.on_job_finished = as_rank0(registry, "succeed")
    handle = k8s.handle

    def racing(method: str, url: str, body: dict | None):
        if method == "POST" and url.endswith("/jobs") and not k8s.of_kind("jobs"):
            handle(method, url, {**body, "metadata": dict(body["metadata"])})
        return handle(method, url, body)

    k8s.handle = racing  # type: ignore[method-assign]
    outcome = runner(registry, k8s).run(spec_for(request_, data, registry), request_, data, timeout_s=30)
    assert outcome.reattached and outcome.version == "1" and len(k8s.of_kind("jobs")) == 1
    staging = registry.client.get_experiment_by_name(STAGING_EXPERIMENT)
    assert [r.info.lifecycle_stage for r in registry.client.search_runs(
        [staging.experiment_id], run_view_type=ViewType.ALL)] == ["deleted"]


def test_a_job_of_that_name_for_another_submission_is_refused(registry, k8s, request_, data):
    spec = spec_for(request_, data, registry, name="nightly-churn")
    k8s.jobs.outcome = "hang"
    theirs = spec.model_copy(update={"staging_run": "a" * 32, "submission": "someone-else"})
    assert k8s.handle("POST", "/apis/batch/v1/namespaces/default/jobs", render_training_job(theirs)[1])[0] == 201
    with pytest.raises(TrainingJobError, match="exists in default for another submission; choose another"):
        runner(registry, k8s).run(spec, request_, data, timeout_s=5)
    assert posts(k8s, "services") == [] and posts(k8s, "jobs") == []


def test_an_oom_killed_rank_fails_the_job_and_leaves_no_version(registry, k8s, request_, data):
    """Rank 0 registered, then another pod was OOM-killed: the Job failed, so the version goes too."""
    k8s.jobs.outcome = "oom"
    k8s.jobs.on_job_finished = as_rank0(registry, "oom")
    spec = spec_for(request_, data, registry)
    with pytest.raises(TrainingJobError) as err:
        runner(registry, k8s).run(spec, request_, data, timeout_s=30)
    message = str(err.value)
    assert f"pod {spec.name}-1-x1: trainer OOMKilled (exit code 137)" in message
    assert "BackoffLimitExceeded" in message and "give it more" in message and "no version was registered" in message
    assert registry.versions(MODEL) == [] and k8s.get("services", spec.name) is None


def test_a_pod_that_cannot_pull_its_image_is_named_when_the_job_fails(registry, k8s, request_, data):
    k8s.jobs.outcome = "image_pull"
    spec = spec_for(request_, data, registry, nodes=3)
    with pytest.raises(TrainingJobError) as err:
        runner(registry, k8s).run(spec, request_, data, timeout_s=30)
    message = str(err.value)
    assert f"pod {spec.name}-2-x2: fetch-job ImagePullBackOff" in message and "cannot pull the image" in message
    assert f"pod {spec.name}-0-x0: trainer exited with code 1" in message  # gave up waiting at the rendezvous


@pytest.mark.parametrize(("outcome", "words"), [("unschedulable", "Unschedulable: 0/3 nodes are available"),
                                                 ("hang", "2 Running; no pod reported a reason")])
def test_a_job_that_does_not_finish_in_time_says_why_and_is_left_running(registry, k8s, request_, data, outcome,
                                                                           words):
    k8s.jobs.outcome = outcome
    spec = spec_for(request_, data, registry)
    with pytest.raises(TrainingJobError, match="did not finish within 0.3 s") as err:
        runner(registry, k8s).run(spec, request_, data, timeout_s=0.3)
    assert words in str(err.value) and "it is left running" in str(err.value)
    if outcome == "unschedulable":
        assert "no node has the CPU, memory or GPUs" in str(err.value)
    assert k8s.get("services", spec.name) is not None  # the pods still resolve each other
    # deleting by hand removes the Service too: nothing else would once the job is gone
    assert f"or kubectl delete job,service {spec.name} -n default" in str(err.value)


def test_a_complete_job_without_a_version_in_this_registry_says_where_to_look(registry, k8s, request_, data):
    with pytest.raises(TrainingJobError, match="no version of 'churn' tagged opsagent.launch=churn-train-"):
        runner(registry, k8s).run(spec_for(request_, data, registry), request_, data, timeout_s=30)


def test_api_server_errors_while_following_are_retried(registry, k8s, request_, data):
    k8s.jobs.on_job_finished = as_rank0(registry, "succeed")
    k8s.fail_next(503, count=2, method="GET", path="/jobs/")
    outcome = runner(registry, k8s).run(spec_for(request_, data, registry), request_, data, timeout_s=30)
    assert outcome.version == "1"
    assert [c for m, p, c in k8s.requests if m == "GET" and "/jobs/" in p][:3] == [503, 503, 404]


def test_the_init_containers_fetch_runs_as_a_subprocess(registry, request_, data, tmp_path):
    """``python -m ml_core.distributed.staging``, as the pod runs it: the tracking URI from the environment."""
    from ml_core.distributed.staging import stage_job

    run_id = stage_job(registry, request_, data, "churn-train-x")
    command = [sys.executable, "-m", "ml_core.distributed.staging", "--run", run_id, "--to", str(tmp_path / "job")]
    env = {k: v for k, v in os.environ.items() if "TRACKING_URI" not in k}
    missing = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert missing.returncode == 1 and "OPSAGENT_MLFLOW_TRACKING_URI is not set in the pod" in missing.stderr
    done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**env, "OPSAGENT_MLFLOW_TRACKING_URI": registry.tracking_uri})
    assert done.returncode == 0, done.stderr
    staged, rows = JobFiles(tmp_path / "job").read_request()
    assert staged.model_name == MODEL and len(rows) == len(data)
