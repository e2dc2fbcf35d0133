"""A training job's directory carried by the team's MLflow: staged by the submitter, fetched by each pod.

A Kubernetes training Job's pods cannot read the submitter's disk, but they reach the tracking server (rank 0
registers there), so the job directory travels as the artifacts of one *staging run* in its own experiment
(``opsagent-training-jobs``, apart from the models' runs): ``stage_job`` logs ``request.json`` and
``data.parquet`` from this machine, and each pod's init container runs
``python -m ml_core.distributed.staging --run RUN --to DIR`` to download them, with the tracking URI from its
environment (``OPSAGENT_MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ml_core.distributed.job import JobFiles, JobRequest
from ml_core.registry import Registry, artifact_location

STAGING_EXPERIMENT = "opsagent-training-jobs"
JOB_TAG = "opsagent.training-job"  # on the staging run: the Job it was staged for
TRACKING_ENV = "OPSAGENT_MLFLOW_TRACKING_URI"


def stage_job(registry: Registry, request: JobRequest, data: pd.DataFrame, job_name: str) -> str:
    """Log the job directory as a staging run's artifacts in ``registry``'s tracking store; returns the run id."""
    client = registry.client
    exp = client.get_experiment_by_name(STAGING_EXPERIMENT)
    experiment_id = exp.experiment_id if exp is not None else client.create_experiment(
        STAGING_EXPERIMENT, artifact_location=artifact_location(registry.layout, registry.tracking_uri,
                                                                registry.artifact_root))
    run = client.create_run(experiment_id, run_name=job_name, tags={JOB_TAG: job_name, "opsagent.kind": "staging"})
    with tempfile.TemporaryDirectory(prefix="opsagent-stage-") as tmp:
        JobFiles(tmp).write_request(request, data)
        try:
            client.log_artifacts(run.info.run_id, tmp)
        except BaseException:
            client.set_terminated(run.info.run_id, "FAILED")
            raise
    client.set_terminated(run.info.run_id, "FINISHED")
    return str(run.info.run_id)


def fetch_job(run_id: str, to: Path | str, tracking_uri: str) -> JobFiles:
    """Download staging run ``run_id``'s artifacts into the job directory ``to``."""
    files = JobFiles(to)
    files.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="opsagent-fetch-") as tmp:
        MlflowClient(tracking_uri, tracking_uri).download_artifacts(run_id, "", tmp)
        for name in (files.request.name, files.data.name):
            shutil.move(str(Path(tmp) / name), files.root / name)
    return files


def main(argv: list[str]) -> int:
    """The init container's command: exit 0 with the job directory filled, else 1 and why (in the pod's log)."""
    if len(argv) != 4 or argv[0] != "--run" or argv[2] != "--to":
        print("usage: python -m ml_core.distributed.staging --run RUN_ID --to DIR", file=sys.stderr)
        return 2
    uri = os.environ.get(TRACKING_ENV) or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        print(f"{TRACKING_ENV} is not set in the pod: the Job needs the team's MLflow server (set the setting, or "
              f"put it in the Secret OPSAGENT_K8S_ENV_SECRET names)", file=sys.stderr)
        return 1
    mlflow.set_tracking_uri(uri)
    try:
        files = fetch_job(argv[1], argv[3], uri)
    except (MlflowException, OSError) as exc:
        print(f"cannot fetch the training job (staging run {argv[1]}) from {uri}: {exc}", file=sys.stderr)
        return 1
    print(f"job directory ready: {files.request} ({files.data.stat().st_size} bytes of data)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
