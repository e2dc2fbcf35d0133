"""Run a training Job on the cluster: stage the job in MLflow, create the headless Service and the Indexed Job,
follow the Job to Complete or Failed, and read back the version rank 0 registered.

The same submission twice is one Job: the Job's name comes from a hash of what is submitted (request, data,
pods), and when a Job of that name exists (read first, or a 409 on create from a concurrent submitter) its
``opsagent.io/submission`` annotation must match: then this call follows that Job instead of creating another.
Rank 0 tags its MLflow run and version ``opsagent.launch = <job name>`` (the request's launch id), which is how
the version is found afterwards, and how a Failed Job's half-registered version is removed. The Service is
deleted once the Job finished; the Job's ``ttlSecondsAfterFinished`` removes the Job and its pods.
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
from ml_core.deploy.base import DeploymentError
from ml_core.deploy.kubernetes import api
from ml_core.deploy.kubernetes.training_job import (
    JOB_NAME_LABEL,
    SUBMISSION_ANNOTATION,
    TrainingJobSpec,
    render_training_job,
)
from ml_core.deploy.kubernetes.training_pods import PodProblem, explain, phases, training_pod_problem
from ml_core.distributed.job import LAUNCH_TAG, JobRequest
from ml_core.distributed.launch import discard_launch
from ml_core.distributed.staging import stage_job
from ml_core.registry import Registry, VersionInfo

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


class TrainingJobError(DeploymentError):
    """The Job failed, timed out, or was not this submission; the message says why and what to do."""


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
    pods = spec.model_dump_json(exclude={"name", "staging_run", "submission"})
    body = replace(request, launch_id="").to_json() + fingerprint(data) + pods
    return hashlib.sha256(body.encode()).hexdigest()[:12]


def job_name(model: str, submission: str) -> str:
    """``<model>-train-<hash>``: a DNS label of at most 52 characters (pod hostnames add ``-<index>``)."""
    stem = re.sub(r"[^a-z0-9-]", "-", model.lower()).strip("-")[:33].strip("-") or "model"
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
    """One training submission against the API ``api_client`` reaches, recording in ``registry``."""

    def __init__(self, api_client: client.ApiClient, registry: Registry, *, poll_s: float = 5.0,
                 retry_base_s: float = 0.2):
        self.batch, self.core = client.BatchV1Api(api_client), client.CoreV1Api(api_client)
        self.registry, self.poll_s, self.retry_base_s = registry, poll_s, retry_base_s

    def _call(self, fn: Any, *args: Any, what: str, **kwargs: Any) -> Any:
        return api.call(fn, *args, what=what, retry_base_s=self.retry_base_s, **kwargs)

    def run(self, spec: TrainingJobSpec, request: JobRequest, data: pd.DataFrame, *, timeout_s: float,
            on_progress: Progress | None = None) -> TrainingJobOutcome:
        """Submit (or re-attach to) the Job ``spec`` names and wait for it; raises ``TrainingJobError``."""
        say = on_progress or (lambda _line: None)
        started = time.monotonic()
        reattached = self._existing(spec) is not None
        if reattached:
            say(f"job {spec.name} was submitted before (the same request): following it")
        else:
            spec = self._create(spec, request, data, say)
            reattached = spec.staging_run == ""
        problems = self._wait(spec, timeout_s, say)
        self._delete_service(spec)
        if problems is not None:
            discard_launch(self.registry, request.model_name, spec.name)
            raise TrainingJobError(f"training job {spec.namespace}/{spec.name} failed: {problems}; no version was "
                                   f"registered (the Job and its pods stay for a day: kubectl describe job "
                                   f"{spec.name} -n {spec.namespace}; delete it to submit the same job again)")
        version = self._registered(request.model_name, spec.name)
        return TrainingJobOutcome(spec.name, spec.namespace, version.version, version.run_id,
                                  time.monotonic() - started, reattached)

    # ---- submitting ------------------------------------------------------------------------------
    def _existing(self, spec: TrainingJobSpec) -> Any | None:
        job = api.exists(self.batch.read_namespaced_job, spec.name, spec.namespace, what="read the training Job",
                         retry_base_s=self.retry_base_s)
        if job is not None and (job.metadata.annotations or {}).get(SUBMISSION_ANNOTATION) != spec.submission:
            raise TrainingJobError(f"a Job named {spec.name} exists in {spec.namespace} for another submission; "
                                   f"choose another --job-name, or delete it (kubectl delete job {spec.name} -n "
                                   f"{spec.namespace})")
        return job

    def _create(self, spec: TrainingJobSpec, request: JobRequest, data: pd.DataFrame,
                say: Progress) -> TrainingJobSpec:
        """Stage, then create the Service and the Job; the spec with its staging run (``""`` when a concurrent
        submitter created the same Job first: ours was not needed)."""
        run_id = stage_job(self.registry, replace(request, launch_id=spec.name), data, spec.name)
        say(f"staged the job in MLflow (run {run_id}, {len(data)} rows)")
        spec = spec.model_copy(update={"staging_run": run_id})
        service, job = render_training_job(spec)
        api.create(self.core.create_namespaced_service, spec.namespace, service, what="create the rendezvous Service",
                   retry_base_s=self.retry_base_s)
        if api.create(self.batch.create_namespaced_job, spec.namespace, job, what="create the training Job",
                      retry_base_s=self.retry_base_s) is None:
            self._existing(spec)  # 409: someone else created it since our read; the same submission, or refused
            self.registry.client.delete_run(run_id)
            say(f"job {spec.name} was created meanwhile by the same submission: following it")
            return spec.model_copy(update={"staging_run": ""})
        say(f"created job {spec.namespace}/{spec.name}: {spec.nodes} pod(s) x {spec.nproc_per_node} process(es)")
        return spec

    # ---- following -------------------------------------------------------------------------------
    def _wait(self, spec: TrainingJobSpec, timeout_s: float, say: Progress) -> str | None:
        """None once the Job is Complete; what went wrong once it Failed. Raises at the timeout."""
        deadline, started = time.monotonic() + timeout_s, time.monotonic()
        last = ""
        while True:
            job = self._call(self.batch.read_namespaced_job, spec.name, spec.namespace, what="read the training Job")
            pods = list(self._call(self.core.list_namespaced_pod, spec.namespace,
                                   label_selector=f"{JOB_NAME_LABEL}={spec.name}", what="list the Job's pods").items)
            problems = [p for p in (training_pod_problem(pod) for pod in pods) if p is not None]
            finished = _finished(job)
            line = _progress_line(spec, job, pods, problems)
            if line != last:
                say(f"{line} ({time.monotonic() - started:.0f} s)")
                last = line
            if finished is not None and finished.type == "Complete":
                return None
            if finished is not None:
                why = f"{finished.reason or 'Failed'}: {finished.message or ''}".strip(": ")
                return f"{why}; {explain(problems)}"
            if time.monotonic() > deadline:
                raise TrainingJobError(
                    f"training job {spec.namespace}/{spec.name} did not finish within {timeout_s:g} s ({phases(pods)}; "
                    f"{explain(problems)}); it is left running: follow it with kubectl get job {spec.name} -n "
                    f"{spec.namespace}, rerun the same command to wait again, or kubectl delete job {spec.name}")
            time.sleep(self.poll_s)

    def _delete_service(self, spec: TrainingJobSpec) -> None:
        api.exists(self.core.delete_namespaced_service, spec.name, spec.namespace,
                   what="delete the rendezvous Service", retry_base_s=self.retry_base_s)

    def _registered(self, model: str, name: str) -> VersionInfo:
        found = [v for v in self.registry.versions(model) if v.tags.get(LAUNCH_TAG) == name]
        if not found:
            raise TrainingJobError(
                f"training job {name} completed, but no version of '{model}' tagged {LAUNCH_TAG}={name} is in "
                f"{self.registry.tracking_uri}: the pods registered elsewhere; their OPSAGENT_MLFLOW_TRACKING_URI "
                f"must be this tracking server")
        return max(found, key=lambda v: int(v.version))


def _finished(job: Any) -> Any | None:
    """The Job's terminal condition (Complete or Failed, status True), if it has one."""
    return next((c for c in job.status.conditions or [] if c.type in ("Complete", "Failed") and c.status == "True"),
                None)


def _progress_line(spec: TrainingJobSpec, job: Any, pods: list[Any], problems: list[PodProblem]) -> str:
    st = job.status
    line = (f"job {spec.name}: {st.succeeded or 0}/{spec.nodes} pods succeeded, {st.active or 0} active, "
            f"{st.failed or 0} failed; pods: {phases(pods)}")
    return line + ("; " + "; ".join(f"{p.pod}: {p.detail}" for p in problems) if problems else "")
