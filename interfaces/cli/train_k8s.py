"""`opsagent train --backend kubernetes`: the training run on the cluster (torchrun across ``--nodes`` pods) as a
Kubeflow PyTorchJob where the cluster serves one, else an Indexed Job (``--k8s-job``), staged in and registered
through the team's MLflow server; then the gate, as for a local run.

Checked before any data loads, each with what to do: a tracking URI the pods cannot reach (unset, SQLite, a
file path), a kubeconfig that does not load, pod resources that are not Kubernetes quantities (or a limit below
its request), GPUs that do not fit --device, a forced PyTorchJob on a cluster without its CRD, a bad image,
namespace or job name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from interfaces.cli.common import UserError, console, err_console


def pods_tracking_uri(settings) -> str | None:
    """The tracking URI the pods get (agent.k8s_training); one they cannot reach is a message, exit 2."""
    from agent.k8s_training import pods_tracking_uri as for_pods

    try:
        return for_pods(settings)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def api_client(settings):
    """The Kubernetes client from the kubeconfig (checked before the data loads)."""
    from ml_core.deploy.base import DeploymentError
    from ml_core.deploy.kubernetes.api import make_api_client

    try:
        return make_api_client(kubeconfig=settings.k8s_kubeconfig, context=settings.k8s_context)
    except DeploymentError as exc:
        raise UserError(str(exc)) from exc


POD_FLAGS = {"k8s_train_job": "--k8s-job", "k8s_train_cpu": "--pod-cpu", "k8s_train_cpu_limit": "--pod-cpu-limit",
             "k8s_train_memory": "--pod-memory", "k8s_train_memory_limit": "--pod-memory-limit",
             "k8s_train_gpus": "--pod-gpus"}


def prepare(settings, *, device: str, nproc: int, **flags: Any):
    """Before any data loads: the settings with the pod flags over them (``flags`` keyed by setting name), the
    API client, and the job kind (``auto`` asks discovery). Each problem is a message naming its flag."""
    from pydantic import ValidationError
    from rich.markup import escape

    from agent.settings import Settings
    from ml_core.deploy.base import DeploymentError
    from ml_core.deploy.kubernetes.training_kinds import TrainingJobError, resolve_kind

    given = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = Settings.model_validate({**settings.model_dump(), **given}) if given else settings
    except ValidationError as exc:
        bad = "; ".join(f"{POD_FLAGS.get(str(e['loc'][0]), e['loc'][0]) if e['loc'] else 'pods'}: {e['msg']}"
                        for e in exc.errors())
        raise UserError(escape(f"invalid option: {bad}")) from exc
    gpus = settings.k8s_train_gpus
    if gpus and device == "cpu":
        raise UserError(f"--pod-gpus {gpus} with --device cpu: the pods would hold GPUs they never use; drop "
                        "--pod-gpus (or OPSAGENT_K8S_TRAIN_GPUS), or train with --device cuda")
    if gpus is not None and device == "cuda" and gpus < nproc:
        raise UserError(f"--device cuda runs one process per GPU: --nproc {nproc} needs --pod-gpus {nproc} or more, "
                        f"not {gpus}")
    pods_tracking_uri(settings)
    client = api_client(settings)
    try:
        kind = resolve_kind(settings.k8s_train_job, client)
    except TrainingJobError as exc:  # forced pytorchjob, no CRD: the user's choice to change
        raise UserError(str(exc)) from exc
    except DeploymentError as exc:  # discovery failed: the cluster's doing
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(code=1) from exc
    return settings, client, kind


def train_on_kubernetes(settings, reg, spec, frame, config, *, nodes: int, nproc: int, job_name: str | None,
                        timeout_s: float, alias: str | None, place_alias: Callable[..., str | None],
                        client: Any, kind: str) -> None:
    """Submit (or follow) the Job, gate the version rank 0 registered, set its alias, print the outcome."""
    from pydantic import ValidationError

    from agent.k8s_training import pod_fields
    from ml_core.deploy.kubernetes.training_submit import TrainingJobError, TrainingJobRunner, training_job_for
    from ml_core.distributed.job import JobRequest
    from ml_core.registry import CHAMPION

    champion = reg.alias(spec.name, CHAMPION)
    # home and tracking URI left empty: each pod takes them from its own environment
    request = JobRequest(launch_id="", home="", tracking_uri="", model_name=spec.name, schema=spec.schema,
                         config=config, parent_version=champion.version if champion else None)
    try:
        job = training_job_for(request, frame, name=job_name, image=settings.k8s_image,
                               namespace=settings.k8s_namespace, nodes=nodes, nproc_per_node=nproc,
                               tracking_uri=pods_tracking_uri(settings), env_secret=settings.k8s_env_secret,
                               model=spec.name, **pod_fields(settings, kind, nproc, config.device))
    except ValidationError as exc:
        from rich.markup import escape

        bad = "; ".join(f"{e['loc'][0] if e['loc'] else 'job'}: {e['msg']}" for e in exc.errors())
        raise UserError(escape(f"invalid training job: {bad} (--job-name must be a DNS label of at most 52 "
                               f"characters: lower-case letters, digits and '-')")) from exc
    what = "PyTorchJob" if job.kind == "pytorchjob" else "Indexed Job"
    console.print(f"[bold]training {spec.name}[/] on Kubernetes: {what} {job.namespace}/{job.name}, {nodes} pod(s) "
                  f"x {nproc} process(es), image {job.image}")
    try:
        outcome = TrainingJobRunner(client, reg).run(job, request, frame, timeout_s=timeout_s,
                                                     on_progress=console.print)
    except TrainingJobError as exc:  # the cluster's doing, not bad input: a message, exit 1
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from exc
    console.print(f"job {outcome.job} complete in {outcome.seconds:.0f} s: rank 0 registered "
                  f"[bold]{spec.name} v{outcome.version}[/]" + (" (followed an earlier submission)"
                                                                 if outcome.reattached else ""))
    _gate(reg, spec, frame, config, outcome.version, champion, alias, place_alias)


def _gate(reg, spec, frame, config, version: str, champion, alias: str | None,
          place_alias: Callable[..., str | None]) -> None:
    """The gate on the rows the pods held out: ``split_frame`` with the same seed gives the same split."""
    from ml_core.data.tables import split_frame
    from ml_core.pipeline import gate_version

    holdout = split_frame(frame, spec.schema, seed=config.seed).test
    verdict, report, _ = gate_version(reg, spec.name, version, reg.load(spec.name, version), holdout, spec.gate,
                                      champion=champion, schema=spec.schema)
    target = place_alias(reg, spec.name, version, alias, champion, verdict.passed)
    against = f"against champion v{champion.version}" if champion else "(no champion yet)"
    colour = "green" if verdict.passed else "red"
    console.print(f"test AUC {report.overall['auc']:.4f}  F1 {report.overall['f1']:.4f} on {len(holdout)} rows")
    console.print(f"[{colour}]gate {'passed' if verdict.passed else 'failed'}[/] {against}: "
                  + "; ".join(verdict.reasons))
    console.print(f"alias: {target or 'none (the gate did not pass it)'}; ready_for_deploy: {verdict.passed}")

