"""`opsagent train` (on this machine; on a cluster through train_k8s), and the data loading `evaluate` shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from interfaces.cli.common import UserError, console, err_console, model_spec
from interfaces.cli.registry_cmds import _registry

if TYPE_CHECKING:  # types only: the CLI imports torch and MLflow when a command runs, not for --help
    from agent.settings import Settings
    from ml_core.gate import GateVerdict
    from ml_core.jobs import TrainJobResult
    from ml_core.registry import VersionInfo
    from ml_core.spec.model_spec import ModelSpec

MAX_POD_NPROC = 64  # processes per pod; what a pod's node can run is the scheduler's to judge

def _load_data(data: Path | None, quarantine: bool, settings, spec: ModelSpec):
    """The table to train or evaluate on: ``--data``, else the spec's data; validated against the spec."""
    from ml_core.data.tables import load_table
    from ml_core.spec.data import load_spec_data

    if data is None:
        frame = load_spec_data(spec, quarantine=quarantine)
    else:
        report = load_table(data, spec.schema, quarantine=quarantine, quarantine_dir=settings.layout.quarantine_dir)
        if report.issues:
            console.print(f"[yellow]{report.summary()}[/]\nquarantined rows saved in {settings.layout.quarantine_dir}")
        frame = report.clean
    if len(frame) < 100:
        raise UserError(f"only {len(frame)} valid rows in {data or spec.data}; need at least 100 to train")
    return frame


def train(
    data: Path | None = typer.Option(None, help="CSV/Parquet with the spec's columns and label; "
                                     "default: the data the spec names (churn: the bundled telecom data set)"),
    model: str | None = typer.Option(None, help="model name, as in `opsagent models list` (default from "
                                     "settings: churn)"),
    epochs: int | None = typer.Option(None, min=1, help="maximum epochs (default 40; early stopping may end "
                                      "sooner)"),
    batch_size: int | None = typer.Option(None, min=8, help="default 128"),
    lr: float | None = typer.Option(None, min=1e-6, help="learning rate (default 5e-4)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda"),
    seed: int | None = typer.Option(None, help="random seed (default from settings)"),
    quarantine: bool = typer.Option(False, help="set bad rows aside instead of refusing the file"),
    alias: str | None = typer.Option(None, help="alias for the new version; default champion if none exists, "
                                     "else challenger"),
    nproc: int = typer.Option(1, min=1, help="training processes: 1 trains here; N > 1 runs torch DDP through "
                              "torchrun (gloo on CPU, NCCL with one GPU per process); one version either way. "
                              "With --backend kubernetes: processes per pod"),
    backend: str = typer.Option("local", "--backend", help="local (this machine) or kubernetes: an Indexed Job "
                                "or a Kubeflow PyTorchJob (--k8s-job) of --nodes pods rendezvousing through "
                                "torchrun; needs OPSAGENT_MLFLOW_TRACKING_URI set to an MLflow server the cluster "
                                "reaches (rank 0 registers there)"),
    nodes: int = typer.Option(1, min=1, help="with --backend kubernetes: pods in the Job, one per node"),
    namespace: str | None = typer.Option(None, "--namespace", help="Kubernetes namespace (default: "
                                         "OPSAGENT_K8S_NAMESPACE)"),
    image: str | None = typer.Option(None, "--image", help="the opsagent image the pods run, as the cluster pulls "
                                     "it (default: OPSAGENT_K8S_IMAGE)"),
    context: str | None = typer.Option(None, "--kube-context", "--context", help="kubeconfig context (default: "
                                       "OPSAGENT_K8S_CONTEXT, or the current one)"),
    kubeconfig: str | None = typer.Option(None, "--kubeconfig", help="kubeconfig file (default: "
                                          "OPSAGENT_K8S_KUBECONFIG, $KUBECONFIG, ~/.kube/config)"),
    job_name: str | None = typer.Option(None, help="the Job's name (default: <model>-train-<hash of the "
                                        "submission>, so the same command again follows the same Job)"),
    timeout: float = typer.Option(3600.0, min=1, help="with --backend kubernetes: seconds to wait for the Job"),
    k8s_job: str | None = typer.Option(None, "--k8s-job", help="with --backend kubernetes: auto (a Kubeflow "
                                       "PyTorchJob when the cluster serves kubeflow.org/v1 pytorchjobs, else an "
                                       "Indexed Job), indexed or pytorchjob (default: OPSAGENT_K8S_TRAIN_JOB, auto)"),
    pod_cpu: str | None = typer.Option(None, help="each pod's CPU request, e.g. 2 or 500m (default: "
                                       "OPSAGENT_K8S_TRAIN_CPU, 2)"),
    pod_cpu_limit: str | None = typer.Option(None, help="each pod's CPU limit (default: "
                                             "OPSAGENT_K8S_TRAIN_CPU_LIMIT, none)"),
    pod_memory: str | None = typer.Option(None, help="each pod's memory request, e.g. 8Gi (default: "
                                          "OPSAGENT_K8S_TRAIN_MEMORY, 4Gi)"),
    pod_memory_limit: str | None = typer.Option(None, help="each pod's memory limit (default: "
                                                "OPSAGENT_K8S_TRAIN_MEMORY_LIMIT, the request)"),
    pod_gpus: int | None = typer.Option(None, min=0, max=64, help="nvidia.com/gpu per pod (default: "
                                        "OPSAGENT_K8S_TRAIN_GPUS; unset: --nproc with --device cuda, else 0)"),
) -> None:
    """Train a model from its spec (PyTorch), log everything to MLflow and register a new version.

    On Kubernetes (--backend kubernetes) the run is a Kubeflow PyTorchJob where the cluster serves one, else an
    Indexed Job (--k8s-job), pods sized by --pod-cpu/--pod-memory (and their limits, --pod-gpus): the job and its
    rows are staged in the MLflow server, each pod fetches them, rank 0 registers the version there, and this
    command follows the job (the pods' states, and why one failed: image pull, OOMKilled, unschedulable) and
    gates the version it registered.

    Example: opsagent train --model credit --epochs 30 --nproc 2

    Example: opsagent train --backend kubernetes --nodes 2 --image ghcr.io/acme/opsagent:1 --namespace ml"""
    from interfaces.cli.progress import epoch_bar
    from ml_core.distributed import DistributedTrainingError, train_and_register_nproc
    from ml_core.pipeline import gate_against_champion
    from ml_core.registry import CHAMPION

    if device not in ("auto", "cpu", "cuda"):
        raise UserError(f"--device must be auto, cpu or cuda, not '{device}'")
    if backend not in ("local", "kubernetes"):
        raise UserError(f"--backend must be local or kubernetes, not '{backend}'")
    if backend == "kubernetes":
        from interfaces.cli.common import cli_settings
        from interfaces.cli.train_k8s import prepare

        settings, client, kind = prepare(
            cli_settings(namespace=namespace, image=image, context=context, kubeconfig=kubeconfig), device=device,
            nproc=nproc, k8s_train_job=k8s_job, k8s_train_cpu=pod_cpu, k8s_train_cpu_limit=pod_cpu_limit,
            k8s_train_memory=pod_memory, k8s_train_memory_limit=pod_memory_limit, k8s_train_gpus=pod_gpus)
        reg = settings.open_registry()
    else:
        settings, reg = _registry()
    spec = model_spec(settings, model)
    name = spec.name
    if not spec.trainable:
        raise UserError(f"model '{name}' is trained by your own pipeline (its spec says trainable: false); "
                        "register new versions with `opsagent models adopt`, or set trainable: true in the spec")
    overrides = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
    config = _checked_config(nproc, backend, device=device, seed=settings.seed if seed is None else seed,
                             exclude_columns=tuple(spec.exclude_from_training), **overrides)
    frame = _load_data(data, quarantine, settings, spec)
    if backend == "kubernetes":
        from interfaces.cli.train_k8s import train_on_kubernetes

        return train_on_kubernetes(settings, reg, spec, frame, config, nodes=nodes, nproc=nproc, job_name=job_name,
                                   timeout_s=timeout, alias=alias, place_alias=_place_alias, client=client,
                                   kind=kind)
    label = f"training {name}" + (f" on {nproc} processes" if nproc > 1 else "")
    with epoch_bar(f"[bold]{label}", config.epochs, console,
                   lambda row: f"loss {row['train_loss']:.4f}  val AUC {row['val_auc']:.4f}") as on_epoch:
        try:
            parent = reg.alias(name, CHAMPION)
            result = train_and_register_nproc(reg, frame, config, nproc=nproc, model_name=name, schema=spec.schema,
                                              on_epoch=on_epoch, parent_version=parent.version if parent else None)
        except DistributedTrainingError as exc:  # a rank failed: not bad input, but a message, not a traceback
            err_console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from exc
        except ValueError as exc:
            raise UserError(str(exc)) from exc
    if nproc > 1:
        console.print(f"trained with DDP on {nproc} processes (torchrun); rank 0 registered v{result.version}")
    champion = reg.alias(name, CHAMPION)
    verdict, _, _ = gate_against_champion(reg, name, result, spec.gate, champion=champion, schema=spec.schema)
    target = _place_alias(reg, name, result.version, alias, champion, verdict.passed)
    _show_training(result, verdict, champion, target)
    if target == CHAMPION:
        _save_fallback(settings, name, result, spec)
    _remember_training(settings, name, len(frame), result, verdict, champion)


def _checked_config(nproc: int, backend: str, **fields: Any):
    """The training config, refused with a message when ``nproc`` processes cannot train here (checked before the
    data loads, so a bad --nproc fails at once); on Kubernetes this machine's cores and GPUs do not count."""
    from ml_core.distributed import check_nproc
    from ml_core.training import TrainConfig

    config = TrainConfig(**fields)
    try:
        if backend == "kubernetes":
            check_nproc(nproc, "cpu", config.batch_size, cores=MAX_POD_NPROC)
        else:
            check_nproc(nproc, config.device, config.batch_size)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    return config


def _place_alias(reg, name: str, version: str, alias: str | None, champion: VersionInfo | None,
                 passed: bool) -> str | None:
    """An explicit --alias or the first champion is set as asked; otherwise the gate decided the challenger.
    Returns the alias the new version holds, if any."""
    from ml_core.registry import CHALLENGER, CHAMPION

    target = alias or (None if champion else CHAMPION)
    if target is None:
        return CHALLENGER if passed else None
    reg.set_alias(name, target, version)
    challenger = reg.alias(name, CHALLENGER)
    if target == CHAMPION and challenger is not None and challenger.version == version:
        reg.delete_alias(name, CHALLENGER)  # the gate's pick is now the champion, not a contender beside it
    return target


def _show_training(result: TrainJobResult, verdict: GateVerdict, champion: VersionInfo | None,
                   target: str | None) -> None:
    """The test-set table (beside the gradient-boosting baseline), the run, and the gate verdict."""
    table = Table(title=f"{result.model_name} v{result.version} — test set, {len(result.split.test)} rows")
    table.add_column("metric")
    table.add_column("model", justify="right")
    has_baseline = "baseline_test_auc" in result.extra
    if has_baseline:
        table.add_column("gradient-boosting baseline", justify="right")
    for key in ("auc", "f1", "precision", "recall", "brier", "ece"):
        row = [key, f"{result.test_metrics[key]:.4f}"]
        if has_baseline:
            base = result.extra.get(f"baseline_test_{key}")
            row.append("" if base is None else f"{base:.4f}")
        table.add_row(*row)
    console.print(table)
    console.print(f"run [bold]{result.run_id}[/]  data {result.data_fingerprint}  device {result.train.device}  "
                  f"best epoch {result.train.best_epoch}  {result.train.seconds:.1f}s")
    against = f"against champion v{champion.version}" if champion else "(no champion yet)"
    colour = "green" if verdict.passed else "red"
    console.print(f"[{colour}]gate {'passed' if verdict.passed else 'failed'}[/] {against}: "
                  + "; ".join(verdict.reasons))
    console.print(f"alias: {target or 'none (the gate did not pass it)'}; ready_for_deploy: {verdict.passed}")


def _save_fallback(settings: Settings, name: str, result: TrainJobResult, spec: ModelSpec) -> None:
    """The champion's last-resort fallback: a JSON logistic regression on the same training rows, which the
    scoring service answers with when no model version can (see ml_core/serving/fallback.py)."""
    from ml_core.baseline import SimpleBaseline
    from ml_core.serving.state import baseline_path

    fallback = SimpleBaseline.fit(result.split.train, spec.schema, valid=result.split.valid)
    path = fallback.save(baseline_path(settings.layout, name))
    console.print(f"fallback: simple baseline saved to {path}")


def _remember_training(settings: Settings, name: str, rows: int, result: TrainJobResult, verdict: GateVerdict,
                       champion: VersionInfo | None) -> None:
    """The run in the agent's memory, so a later triage can cite what the model was trained on."""
    against = f"against champion v{champion.version}" if champion else "(no champion yet)"
    settings.open_memory().record(
        "training_run", f"{name} v{result.version} trained on {rows} rows ({result.data_fingerprint}): "
        f"test AUC {result.test_metrics['auc']:.3f}, F1 {result.test_metrics['f1']:.3f}; gate "
        f"{'passed' if verdict.passed else 'failed'} {against}: " + "; ".join(verdict.reasons),
        model=name, metadata={"version": result.version, "run_id": result.run_id,
                              "test_auc": result.test_metrics["auc"], "test_f1": result.test_metrics["f1"]})


def register(app: typer.Typer) -> None:
    app.command("train")(train)
