"""Run a training job on the cluster: stage the job in MLflow, create the job (an Indexed Job and its headless
Service, or a Kubeflow PyTorchJob: training_kinds), follow it until it succeeded or failed, and read back the
version rank 0 registered.

The same submission twice is one job: the job's name comes from a hash of what is submitted (request, data,
pods, kind), and when a job of that name exists (read first, or a 409 on create from a concurrent submitter) its
``opsagent.io/submission`` annotation must match: then this call follows that job instead of creating another.
Rank 0 tags its MLflow run and version ``opsagent.launch = <job name>`` (the request's launch id), which is how
the version is found afterwards, and how a failed job's half-registered version is removed. An Indexed Job's
Service is deleted once it finished; ``ttlSecondsAfterFinished`` removes the job and its pods.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from kubernetes import client

from ml_core.data.tables import fingerprint
from ml_core.deploy.kubernetes import api
from ml_core.deploy.kubernetes.training_job import JobState, TrainingJobSpec
from ml_core.deploy.kubernetes.training_kinds import (
    JobKindCalls,
    TrainingJobError,
    TrainingJobTimeout,
    calls_for,
    delete_command,
)
from ml_core.deploy.kubernetes.training_pods import explain, phases, training_pod_problem
from ml_core.distributed.job import LAUNCH_TAG, JobRequest
from ml_core.distributed.launch import discard_launch
from ml_core.distributed.staging import stage_job
from ml_core.failpoints import failpoint
from ml_core.registry import Registry, VersionInfo

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
# TrainingJobSpec fields added after the first release, with the value every earlier submission had.
LATER_FIELDS: dict[str, Any] = {"cpu_limit": None, "memory_limit": None, "kind": "indexed"}
__all__ = ["TrainingJobError", "TrainingJobOutcome", "TrainingJobRunner", "TrainingJobTimeout", "job_name",
           "training_job_for"]


@dataclass(frozen=True)
class TrainingJobOutcome:
    """A finished training Job and the version its rank 0 registered."""

    job: str
    namespace: str
    version: str
    run_id: str | None
    seconds: float
    reattached: bool  # the Job existed already (the same submission): followed, not created again


def submission_id(spec: TrainingJobSpec, request: JobRequest, data: pd.DataFrame) -> str:
    """A hash of what runs: the request (without its launch id), the rows, and the pods' shape and image."""
    # Fields at the defaults they had before they existed are left out: such a submission keeps its old name.
    later = {f for f, default in LATER_FIELDS.items() if getattr(spec, f) == default}
    pods = spec.model_dump_json(exclude={"name", "staging_run", "submission", *later})
    body = replace(request, launch_id="").to_json() + fingerprint(data) + pods
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def job_name(model: str, submission: str) -> str:
    """``<model>-train-<hash>``: a DNS label of at most 52 characters (pod hostnames add ``-<index>``)."""
    stem = re.sub(r"[^a-z0-9-]", "-", model.lower()).strip("-")[:33].strip("-") or "model"
    if not stem[0].isalpha():  # a PyTorchJob's name is a DNS-1035 label: it starts with a letter
        stem = f"m-{stem}"[:33].strip("-")
    return f"{stem}-train-{submission}"


def training_job_for(request: JobRequest, data: pd.DataFrame, *, name: str | None = None,
                     **pods: Any) -> TrainingJobSpec:
    """The Job spec for ``request`` on ``data``: ``pods`` are ``TrainingJobSpec``'s fields (image, nodes,
    namespace...); the name is ``name`` or ``<model>-train-<submission hash>``. Raises pydantic's
    ``ValidationError`` for a bad field."""
    draft = TrainingJobSpec(name="draft", **pods)
    submission = submission_id(draft, request, data)
    return TrainingJobSpec(**{**draft.model_dump(), "name": name or job_name(request.model_name, submission),
                              "submission": submission})


class TrainingJobRunner:
    """One training submission against the API ``api_client`` reaches, recording in ``registry``; the spec's
    ``kind`` says which resource it becomes (training_kinds)."""

    def __init__(self, api_client: client.ApiClient, registry: Registry, *, poll_s: float = 5.0,
                 retry_base_s: float = 0.2):
        self.api_client, self.core = api_client, client.CoreV1Api(api_client)
        self.registry, self.poll_s, self.retry_base_s = registry, poll_s, retry_base_s

    def run(self, spec: TrainingJobSpec, request: JobRequest, data: pd.DataFrame, *, timeout_s: float,
            on_progress: Progress | None = None) -> TrainingJobOutcome:
        """Submit (or re-attach to) the job ``spec`` names and wait for it; raises ``TrainingJobError``."""
        say = on_progress or (lambda _line: None)
        calls = calls_for(spec.kind, self.api_client, self.retry_base_s)
        started = time.monotonic()
        reattached = self._existing(calls, spec) is not None
        if reattached:
            say(f"job {spec.name} was submitted before (the same request): following it")
        else:
            spec = self._create(calls, spec, request, data, say)
            reattached = spec.staging_run == ""
            failpoint("after_job_submitted")
        problems = self._wait(calls, spec, timeout_s, say)
        calls.finished(spec)
        if problems is not None:
            discard_launch(self.registry, request.model_name, spec.name)
            raise TrainingJobError(f"training job {spec.namespace}/{spec.name} failed: {problems}; no version was "
                                   f"registered (the job and its pods stay for a day: kubectl describe "
                                   f"{_resource(spec)} {spec.name} -n {spec.namespace}; delete it to submit the "
                                   f"same job again)")
        version = self._registered(request.model_name, spec.name)
        return TrainingJobOutcome(spec.name, spec.namespace, version.version, version.run_id,
                                  time.monotonic() - started, reattached)

    # ---- submitting ------------------------------------------------------------------------------
    def _existing(self, calls: JobKindCalls, spec: TrainingJobSpec) -> JobState | None:
        job = calls.read(spec)
        if job is not None and job.submission != spec.submission:
            raise TrainingJobError(f"a {_kind_word(spec)} named {spec.name} exists in {spec.namespace} for another "
                                   f"submission; choose another --job-name, or delete it ({_delete_command(spec)})")
        return job

    def _create(self, calls: JobKindCalls, spec: TrainingJobSpec, request: JobRequest, data: pd.DataFrame,
                say: Progress) -> TrainingJobSpec:
        """Stage, then create the job's objects; the spec with its staging run (``""`` when a concurrent
        submitter created the same job first: ours was not needed)."""
        run_id = stage_job(self.registry, replace(request, launch_id=spec.name), data, spec.name)
        say(f"staged the job in MLflow (run {run_id}, {len(data)} rows)")
        spec = spec.model_copy(update={"staging_run": run_id})
        if not calls.create(spec):
            self._existing(calls, spec)  # 409: someone else created it since our read; the same submission, or refused
            self.registry.client.delete_run(run_id)
            say(f"job {spec.name} was created meanwhile by the same submission: following it")
            return spec.model_copy(update={"staging_run": ""})
        say(f"created {_kind_word(spec)} {spec.namespace}/{spec.name}: {spec.nodes} pod(s) x {spec.nproc_per_node} "
            f"process(es)")
        return spec

    # ---- following -------------------------------------------------------------------------------
    def _wait(self, calls: JobKindCalls, spec: TrainingJobSpec, timeout_s: float, say: Progress) -> str | None:
        """None once the job succeeded; what went wrong once it failed. Raises at the timeout."""
        deadline, started = time.monotonic() + timeout_s, time.monotonic()
        last = ""
        while True:
            job = calls.read(spec)
            if job is None:
                raise TrainingJobError(f"{_kind_word(spec)} {spec.namespace}/{spec.name} disappeared while it ran "
                                       f"(deleted by someone?); no version was read back")
            pods = list(api.call(self.core.list_namespaced_pod, spec.namespace, label_selector=calls.pod_selector(spec),
                                 what="list the job's pods", retry_base_s=self.retry_base_s).items)
            problems = [p for p in (training_pod_problem(pod) for pod in pods) if p is not None]
            line = f"job {spec.name}: {job.counts}; pods: {phases(pods)}"
            line += "; " + "; ".join(f"{p.pod}: {p.detail}" for p in problems) if problems else ""
            if line != last:
                say(f"{line} ({time.monotonic() - started:.0f} s)")
                last = line
            if job.outcome == "succeeded":
                return None
            if job.outcome == "failed":
                return f"{job.why or 'Failed'}; {explain(problems)}"
            if time.monotonic() > deadline:
                raise TrainingJobTimeout(
                    f"training job {spec.namespace}/{spec.name} did not finish within {timeout_s:g} s ({phases(pods)}; "
                    f"{explain(problems)}); it is left running: follow it with kubectl get {_resource(spec)} "
                    f"{spec.name} -n {spec.namespace}, rerun the same command to wait again, or "
                    f"{_delete_command(spec)}")
            time.sleep(self.poll_s)

    def _registered(self, model: str, name: str) -> VersionInfo:
        found = [v for v in self.registry.versions(model) if v.tags.get(LAUNCH_TAG) == name]
        if not found:
            raise TrainingJobError(
                f"training job {name} completed, but no version of '{model}' tagged {LAUNCH_TAG}={name} is in "
                f"{self.registry.tracking_uri}: the pods registered elsewhere; their OPSAGENT_MLFLOW_TRACKING_URI "
                f"must be this tracking server")
        return max(found, key=lambda v: int(v.version))


def _resource(spec: TrainingJobSpec) -> str:
    """The kubectl resource name of the spec's kind."""
    return "pytorchjob" if spec.kind == "pytorchjob" else "job"


def _delete_command(spec: TrainingJobSpec) -> str:
    return delete_command(spec.name, spec.namespace, spec.kind)


def _kind_word(spec: TrainingJobSpec) -> str:
    return "PyTorchJob" if spec.kind == "pytorchjob" else "Job"
