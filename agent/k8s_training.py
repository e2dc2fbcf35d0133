"""Where an approved retrain trains: here (``OPSAGENT_TRAIN_BACKEND=local``, the default) or on the cluster
(``kubernetes``) through the runner `opsagent train --backend kubernetes` uses: the job staged through MLflow,
named by the hash of its submission, followed to its end, the version rank 0 registered read back.

A remediation killed while its job runs and then resumed builds the same submission (the same window rows,
config, pods, and the proposal's id in the request's tags), so the same job name: the runner follows that job
instead of creating a second. A failed job raises ``TrainingJobError`` (a ``DeploymentError``) with the job's
reason (OOMKilled, image pull, unschedulable, a rank's exit code), which fails the remediation like a local
training failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from agent.context import OpsContext
from agent.deploy_backend import tracking_warning
from agent.proposals import RetrainProposal
from agent.settings import Settings
from ml_core.distributed.job import JobRequest
from ml_core.pipeline import RemoteTrainer, ResumeConflictError
from ml_core.registry import PROPOSAL_TAG, Registry

if TYPE_CHECKING:
    from ml_core.deploy.kubernetes.training_job import TrainingJobSpec

TRACKING_HELP = ("set OPSAGENT_MLFLOW_TRACKING_URI to an MLflow tracking server the cluster can reach (e.g. "
                 "http://mlflow.ml.svc:5000, or a PostgreSQL URL), and to the same one here: rank 0 registers the "
                 "version there and opsagent reads it back")


class TrainingStillRunning(ResumeConflictError):
    """The proposal's job outlived the wait: the remediation stops as interrupted, and a resume follows the job."""


def pods_tracking_uri(settings: Settings) -> str | None:
    """The tracking URI the pods get in their environment; None when the Secret ``OPSAGENT_K8S_ENV_SECRET``
    names carries it (a URI with a password stays out of the manifest). ``ValueError`` for one the pods
    cannot reach."""
    if tracking_warning(settings) is not None:
        raise ValueError(f"the pods cannot reach this machine's registry ({settings.tracking_uri}): {TRACKING_HELP}")
    return None if settings.k8s_env_secret else settings.mlflow_tracking_uri


def pod_fields(settings: Settings, kind: str, nproc: int, device: str) -> dict[str, Any]:
    """The ``TrainingJobSpec`` fields the settings give each pod."""
    gpus = settings.k8s_train_gpus
    return {"kind": kind, "cpu": settings.k8s_train_cpu, "cpu_limit": settings.k8s_train_cpu_limit,
            "memory": settings.k8s_train_memory, "memory_limit": settings.k8s_train_memory_limit,
            "gpus_per_node": gpus if gpus is not None else (nproc if device == "cuda" else 0)}


def proposal_trainer(ctx: OpsContext, proposal: RetrainProposal, on_step: Callable[[str], None]
                     ) -> RemoteTrainer | None:
    """``retrain_trainer`` for an approved proposal: the job it submits is audited (``training_job``) before it
    is created, and a resumed remediation that would submit under another name (the window's rows changed
    since: labels arrived) stops instead of starting a second job beside the first."""
    before = [e.detail.get("job") for e in ctx.approvals.history(proposal.id) if e.event == "training_job"]

    def audit(job: TrainingJobSpec) -> None:
        ctx.approvals.audit.append("training_job", actor=ctx.actor, via=ctx.via, proposal_id=proposal.id,
                                   detail={"job": job.name, "namespace": job.namespace, "kind": job.kind,
                                           "nodes": job.nodes, "nproc": job.nproc_per_node})

    return retrain_trainer(ctx.settings, ctx.registry, nodes=proposal.nodes, nproc=proposal.nproc,
                           on_step=on_step, submitted=before[-1] if before else None, on_submit=audit)


def retrain_trainer(settings: Settings, registry: Registry, *, nodes: int, nproc: int,
                    on_step: Callable[[str], None] | None = None, submitted: str | None = None,
                    on_submit: Callable[[TrainingJobSpec], None] | None = None) -> RemoteTrainer | None:
    """The trainer a proposal's retrain runs through: None to train here (the pipeline's own launcher), else
    one that submits to the cluster (``submitted``: the job an earlier attempt submitted; ``on_submit`` runs
    before a job is first created). Refuses (``ValueError``) what the backend cannot run, before any data
    loads: several nodes on the local backend, a registry the pods cannot reach."""
    if settings.train_backend == "local":
        if nodes > 1:
            raise ValueError(f"nodes={nodes} trains on {nodes} Kubernetes pods, but OPSAGENT_TRAIN_BACKEND is "
                             "local (this machine only): edit the proposal to nodes=1, or set "
                             "OPSAGENT_TRAIN_BACKEND=kubernetes")
        return None
    tracking = pods_tracking_uri(settings)
    say = on_step or (lambda _line: None)

    def train(data: pd.DataFrame, request: JobRequest) -> str:
        from ml_core.deploy.kubernetes.api import make_api_client
        from ml_core.deploy.kubernetes.training_kinds import resolve_kind
        from ml_core.deploy.kubernetes.training_submit import TrainingJobRunner, TrainingJobTimeout, training_job_for

        client = make_api_client(kubeconfig=settings.k8s_kubeconfig, context=settings.k8s_context)
        kind = resolve_kind(settings.k8s_train_job, client)
        job = training_job_for(request, data, image=settings.k8s_image, namespace=settings.k8s_namespace,
                               nodes=nodes, nproc_per_node=nproc, tracking_uri=tracking,
                               env_secret=settings.k8s_env_secret, model=request.model_name,
                               **pod_fields(settings, kind, nproc, request.config.device))
        if submitted is not None and submitted != job.name:
            resource = "pytorchjob" if job.kind == "pytorchjob" else "job"
            raise ResumeConflictError(
                f"training job {submitted} was submitted for this proposal before the process stopped, but the "
                f"same retrain now is another submission ({job.name}: the window's rows changed since, e.g. "
                f"labels arrived); {submitted} may still be running (kubectl get {resource} {submitted} -n "
                f"{job.namespace}). Abandon this proposal and triage again for a fresh one")
        say(f"training on Kubernetes: {'PyTorchJob' if kind == 'pytorchjob' else 'Indexed Job'} "
            f"{job.namespace}/{job.name}, {nodes} pod(s) x {nproc} process(es), image {job.image}")
        if submitted is None and on_submit is not None:
            on_submit(job)
        try:
            outcome = TrainingJobRunner(client, registry, poll_s=settings.k8s_train_poll_s).run(
                job, request, data, timeout_s=settings.k8s_train_timeout_s, on_progress=say)
        except TrainingJobTimeout as exc:
            raise TrainingStillRunning(
                f"{exc.args[0].split('; it is left running')[0]}; it is left running: `opsagent approvals resume "
                f"{request.tags.get(PROPOSAL_TAG, 'ID')}` follows the same job again (OPSAGENT_K8S_TRAIN_TIMEOUT_S "
                "sets the wait), `opsagent approvals abandon` gives the proposal up and deletes the job") from exc
        say(f"job {outcome.job} complete in {outcome.seconds:.0f} s: rank 0 registered v{outcome.version}"
            + (" (followed the job submitted before the process stopped)" if outcome.reattached else ""))
        return outcome.version

    return train


def stop_proposal_job(ctx: OpsContext, proposal_id: str) -> str:
    """Delete the training job a proposal being given up submitted (the last one audited), if it is still on the
    cluster: nothing would follow it any more. Says what it did ("" when the proposal submitted none, or it is gone
    already). A cluster that cannot be reached does not stop the giving up: the line says what to run instead."""
    jobs = [e.detail for e in ctx.approvals.history(proposal_id) if e.event == "training_job"]
    if not jobs:
        return ""
    name, namespace, kind = jobs[-1]["job"], jobs[-1].get("namespace", "default"), jobs[-1].get("kind", "indexed")
    from ml_core.deploy.kubernetes.api import make_api_client
    from ml_core.deploy.kubernetes.training_kinds import delete_command, delete_training_job

    by_hand = delete_command(name, namespace, kind)
    try:
        client = make_api_client(kubeconfig=ctx.settings.k8s_kubeconfig, context=ctx.settings.k8s_context)
        found = delete_training_job(client, name, namespace, kind)
    except Exception as exc:  # no kubeconfig, the API down, no permission: the proposal is given up all the same
        return f"its training job {namespace}/{name} could not be deleted ({exc}); delete it with {by_hand}"
    return f"its training job {namespace}/{name} was deleted" if found else ""

