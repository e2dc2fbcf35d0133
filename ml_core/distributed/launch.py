"""Launch DDP training through torchrun (a real subprocess) and hand back what `train_and_register` would.

``python -m torch.distributed.run --standalone --nproc-per-node N -m ml_core.distributed --job DIR``: the ranks
train (gloo on CPU, NCCL on GPU), rank 0 registers one version, and this process follows rank 0's progress lines
and reads its result. When any rank fails, torchrun stops the others; then the MLflow run a killed rank 0 left
RUNNING is marked KILLED (as ``end_orphan_runs`` does for a crashed retrain) and a version registered by the
failed launch, if it got that far, is deleted: a failed launch leaves no version behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ml_core.data.schema import TableSchema
from ml_core.data.tables import split_frame
from ml_core.distributed.job import LAUNCH_TAG, JobFiles, JobRequest, parse_progress
from ml_core.importance import FeatureImportance
from ml_core.jobs import TrainJobResult, end_orphan_runs, train_and_register
from ml_core.model import TabularModel
from ml_core.registry import Registry, RegistryError
from ml_core.training import EpochCallback, TrainConfig, TrainResult

MAX_NPROC = 64  # processes on one machine; more is a multi-node job (ml_core/deploy/kubernetes/training_job.py)


class DistributedTrainingError(RuntimeError):
    """A rank failed or torchrun could not start the job; the message says which rank and why."""


def check_nproc(nproc: int, device: str, batch_size: int, cores: int | None = None) -> None:
    """Raise ``ValueError`` saying what to change when ``nproc`` processes cannot train on this machine (or, with
    ``cores``, on a machine of that many CPU cores: a pod's node, for device ``cpu``)."""
    if not 1 <= nproc <= MAX_NPROC:
        raise ValueError(f"--nproc must be between 1 and {MAX_NPROC}, not {nproc}")
    if batch_size // nproc < 2:
        raise ValueError(f"batch size {batch_size} over {nproc} processes leaves fewer than 2 rows per process "
                         f"(BatchNorm needs 2): use --batch-size {2 * nproc} or more, or fewer processes")
    gpus = torch.cuda.device_count()
    if device.startswith("cuda") or (device == "auto" and gpus):
        if nproc > gpus:
            raise ValueError(f"--nproc {nproc} needs one GPU per process (NCCL), but {gpus} are visible: "
                             f"use --nproc {max(gpus, 1)} or --device cpu")
        return
    cores = cores or os.cpu_count() or 1
    if nproc > cores:  # each rank trains on one thread: more ranks than cores only take turns on them
        raise ValueError(f"--nproc {nproc} exceeds the {cores} CPU cores here; use --nproc {cores} or fewer")


def torchrun_command(nproc: int, job_dir: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
            "-m", "ml_core.distributed", "--job", job_dir]


def train_and_register_distributed(registry: Registry, data: pd.DataFrame, config: TrainConfig, *, nproc: int,
                                   model_name: str, schema: TableSchema, parent_version: str | None = None,
                                   on_epoch: EpochCallback | None = None, run_name: str | None = None,
                                   with_baseline: bool = True, tags: dict[str, str] | None = None
                                   ) -> TrainJobResult:
    """``train_and_register`` over ``nproc`` DDP processes; raises ``DistributedTrainingError`` when a rank
    fails (no version is left registered) and ``ValueError`` for an ``nproc`` this machine cannot run."""
    check_nproc(nproc, config.device, config.batch_size)
    launch_id = uuid.uuid4().hex[:12]
    request = JobRequest(launch_id=launch_id, home=str(registry.layout.home), tracking_uri=registry.tracking_uri,
                         model_name=model_name, schema=schema, config=config, parent_version=parent_version,
                         run_name=run_name, with_baseline=with_baseline, tags=dict(tags or {}))
    with tempfile.TemporaryDirectory(prefix="opsagent-ddp-") as job_dir:
        files = JobFiles(job_dir)
        files.write_request(request, data)
        log = registry.layout.home / "logs" / f"ddp-{launch_id}.log"  # everything the ranks and torchrun printed
        try:
            code, tail = _follow(torchrun_command(nproc, job_dir), on_epoch, log)
        except BaseException:  # Ctrl-C or a failing callback: the job was stopped half way
            discard_launch(registry, model_name, launch_id)
            raise
        if code != 0 or not files.result.exists():
            discard_launch(registry, model_name, launch_id)
            raise DistributedTrainingError(_failure_message(files, code, tail, nproc) + f"\nfull output: {log}")
        result = json.loads(files.result.read_text())
    return _job_result(registry, data, config, schema, model_name, parent_version, result)


def _follow(command: list[str], on_epoch: EpochCallback | None, log: Path) -> tuple[int, list[str]]:
    """Run torchrun, passing rank 0's progress lines to ``on_epoch`` and everything else to ``log``; returns the
    exit code and the last of those other lines (for the error message)."""
    tail: deque[str] = deque(maxlen=30)
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    try:
        assert proc.stdout is not None
        with log.open("w") as out:
            for line in proc.stdout:
                progress = parse_progress(line.rstrip("\n"))
                if progress is None:
                    out.write(line)
                    tail.append(line.rstrip())
                elif on_epoch:
                    on_epoch(*progress)
        return proc.wait(), list(tail)
    finally:
        if proc.poll() is None:  # torchrun forwards SIGTERM to its workers
            proc.terminate()
            proc.wait(timeout=30)


def _failure_message(files: JobFiles, code: int, tail: list[str], nproc: int) -> str:
    errors = files.errors()
    if errors:
        first = errors[0]
        return (f"distributed training failed in rank {first['rank']} of {nproc}: {first['type']}: "
                f"{first['message']}; no version was registered")
    lines = [t for t in tail if t.strip()][-6:]
    return (f"distributed training failed: torchrun exited with code {code} and no rank reported an error (a "
            "process was killed, e.g. out of memory); no version was registered. torchrun said:\n"
            + "\n".join(lines))


def discard_launch(registry: Registry, model_name: str, launch_id: str) -> None:
    """Mark KILLED the runs the launch left RUNNING and delete a version it registered before failing."""
    end_orphan_runs(registry, LAUNCH_TAG, launch_id)
    try:
        versions = registry.versions(model_name)
    except RegistryError:
        return
    for v in versions:
        if v.tags.get(LAUNCH_TAG) == launch_id:
            registry.client.delete_model_version(model_name, v.version)


def _job_result(registry: Registry, data: pd.DataFrame, config: TrainConfig, schema: TableSchema,
                model_name: str, parent_version: str | None, result: dict[str, Any]) -> TrainJobResult:
    """The ``TrainJobResult`` the one-process path returns: the model from the registry, the split rebuilt
    from the same rows and seed (``split_frame`` is deterministic), the figures from rank 0's result file."""
    model = registry.load(model_name, result["version"])
    assert isinstance(model, TabularModel)  # a version trained by opsagent
    train = TrainResult(model, result["history"], result["best_epoch"], result["device"], result["seconds"],
                        result["samples_per_second"], result["stopped_early"])
    importance = result["importance"] and FeatureImportance.model_validate(result["importance"])
    return TrainJobResult(model_name, result["version"], result["run_id"], result["data_fingerprint"],
                          result["test_metrics"], train, split_frame(data, schema, seed=config.seed),
                          parent_version, result["extra"], importance or None)


def train_and_register_nproc(registry: Registry, data: pd.DataFrame, config: TrainConfig, *, nproc: int = 1,
                             **kwargs: Any) -> TrainJobResult:
    """``train_and_register`` in this process when ``nproc`` is 1 (today's path, unchanged), else through
    torchrun over ``nproc`` processes; ``kwargs`` are ``train_and_register``'s."""
    if nproc == 1:
        return train_and_register(registry, data, config, **kwargs)
    return train_and_register_distributed(registry, data, config, nproc=nproc, **kwargs)
