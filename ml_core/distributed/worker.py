"""What each torchrun process runs: every rank trains its shard; rank 0 alone logs to MLflow and registers.

The other ranks never build a ``Registry`` (no tracking URI set, no database opened): once the epochs are done
they leave, and rank 0 evaluates, logs the bundle and registers one version. A rank that raises writes
``error-rank<N>.json`` first, so the launcher can say which rank failed and why.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

import pandas as pd

from ml_core.data.tables import split_frame
from ml_core.distributed.ddp import Rank, ddp_plan, process_group, rank_device
from ml_core.distributed.job import LAUNCH_TAG, JobFiles, JobRequest, progress_line
from ml_core.jobs import train_and_register
from ml_core.paths import HomeLayout
from ml_core.registry import Registry
from ml_core.training import PlanFactory, TrainConfig, train_model


def run_rank(files: JobFiles, rank: Rank) -> None:
    """Train this rank's part of the job described in ``files``."""
    request, data = files.read_request()
    config = request.config.model_copy(update={"device": rank_device(request.config, rank)})
    with process_group(config.device):
        plan = ddp_plan(rank)
        if rank.rank != 0:
            train_model(split_frame(data, request.schema, seed=config.seed), config, request.schema, plan=plan)
            return
        _train_and_register_rank0(files, request, data, config, plan)


HOME_IN_POD = "/var/lib/opsagent"  # the image's OPSAGENT_HOME


def _tracking_uri_from_env() -> str:
    """A request staged for a cluster names no tracking URI (it may hold a password): the pod's environment does."""
    uri = os.environ.get("OPSAGENT_MLFLOW_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise RuntimeError("the request names no tracking URI and OPSAGENT_MLFLOW_TRACKING_URI is not set: rank 0 "
                           "has nowhere to register the version")
    return uri


def _train_and_register_rank0(files: JobFiles, request: JobRequest, data: pd.DataFrame, config: TrainConfig,
                              plan: PlanFactory) -> None:
    registry = Registry(HomeLayout(Path(request.home or os.environ.get("OPSAGENT_HOME") or HOME_IN_POD)),
                        request.tracking_uri or _tracking_uri_from_env())
    tags = {**request.tags, LAUNCH_TAG: request.launch_id, "opsagent.nproc": str(Rank.from_env().world)}

    def show(epoch: int, total: int, row: dict[str, float]) -> None:
        print(progress_line(epoch, total, row), flush=True)

    job = train_and_register(registry, data, config, model_name=request.model_name, schema=request.schema,
                             parent_version=request.parent_version, on_epoch=show, run_name=request.run_name,
                             with_baseline=request.with_baseline, tags=tags, plan=plan)
    fit = job.train
    files.result.write_text(json.dumps({
        "version": job.version, "run_id": job.run_id, "data_fingerprint": job.data_fingerprint,
        "test_metrics": job.test_metrics, "extra": job.extra,
        "importance": job.importance.model_dump(mode="json") if job.importance else None,
        "history": fit.history, "best_epoch": fit.best_epoch, "device": fit.device, "seconds": fit.seconds,
        "samples_per_second": fit.samples_per_second, "stopped_early": fit.stopped_early}))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--job":
        print("usage: python -m ml_core.distributed --job DIR (started by torchrun; see ml_core.distributed.launch)",
              file=sys.stderr)
        return 2
    files, rank = JobFiles(argv[1]), Rank.from_env()
    try:
        run_rank(files, rank)
    except BaseException as exc:
        files.error(rank.rank).write_text(json.dumps({
            "rank": rank.rank, "type": type(exc).__name__, "message": str(exc),
            "traceback": traceback.format_exc()[-4000:]}))
        raise
    return 0
