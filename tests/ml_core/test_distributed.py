"""DDP training through the real torchrun: one version registered by rank 0, metrics within tolerance of one
process (the CLI's failure path is in tests/interfaces/test_cli_train_nproc.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.distributed import MAX_NPROC, check_nproc
from ml_core.distributed.ddp import replicas_in_sync
from ml_core.distributed.job import LAUNCH_TAG, JobFiles, JobRequest, parse_progress, progress_line
from ml_core.distributed.launch import _failure_message
from ml_core.paths import HomeLayout
from ml_core.pipeline import RetrainRequest, RetrainResult, retrain
from ml_core.registry import Registry
from ml_core.spec.builtin import builtin_spec
from ml_core.training import TrainConfig

EPOCHS = 10
CONFIG = TrainConfig(epochs=EPOCHS, patience=EPOCHS, members=1, hidden=16, device="cpu", seed=5)
# Tolerance: a same-seed DDP run differs from the one-process run by batch composition only (see
# ml_core/distributed/ddp.py), less than a change of seed does. `python -m evals.ddp_seed_spread --seeds 10
# --epochs 10` measures the seed-to-seed spread of this configuration: sigma(test AUC) = 0.0051, sigma(test F1)
# = 0.0116. Two draws differ with sigma * sqrt(2); 3 sigma * sqrt(2) is crossed by chance ~0.3% of the time.
AUC_TOLERANCE = 3 * 0.0051 * 2 ** 0.5  # 0.022
F1_TOLERANCE = 3 * 0.0116 * 2 ** 0.5  # 0.049


def _retrain(home: Path, data, nproc: int, seen: list[int] | None = None) -> tuple[Registry, RetrainResult]:
    registry = Registry(HomeLayout(home))
    request = RetrainRequest(model_name="churn", config=CONFIG, nproc=nproc, include_reference=True)
    out = retrain(registry, None, request, reference=data, schema=CHURN_SCHEMA,
                  on_epoch=(lambda epoch, _total, _row: seen.append(epoch)) if seen is not None else None)
    return registry, out


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory, churn_df):
    """The same retrain (pipeline, churn's 5,000 rows) in one process and through torchrun on two."""
    epochs_seen: list[int] = []
    one = _retrain(tmp_path_factory.mktemp("one"), churn_df, 1)
    two = _retrain(tmp_path_factory.mktemp("two"), churn_df, 2, epochs_seen)
    return one, two, epochs_seen


@pytest.mark.slow
def test_two_processes_register_exactly_one_version(one_and_two):
    _, (registry, out), epochs_seen = one_and_two
    versions = registry.versions("churn")
    assert [v.version for v in versions] == ["1"] == [out.version]
    assert versions[0].tags["opsagent.nproc"] == "2" and versions[0].tags[LAUNCH_TAG]
    runs = registry.client.search_runs([registry.experiment_id()])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # only rank 0 touched MLflow
    assert runs[0].info.run_id == out.run_id
    assert epochs_seen == list(range(1, EPOCHS + 1))  # rank 0's progress reached the launcher, every epoch
    history = registry.client.get_metric_history(out.run_id, "val_loss")
    assert [m.step for m in history] == list(range(1, EPOCHS + 1))


@pytest.mark.slow
def test_two_processes_land_within_tolerance_of_one(one_and_two):
    (_, single), (_, ddp), _ = one_and_two
    assert ddp.data_fingerprint == single.data_fingerprint
    assert abs(ddp.challenger_metrics["auc"] - single.challenger_metrics["auc"]) <= AUC_TOLERANCE
    assert abs(ddp.challenger_metrics["f1"] - single.challenger_metrics["f1"]) <= F1_TOLERANCE
    assert ddp.challenger_metrics["auc"] > 0.8  # it learned, rather than two equally broken runs agreeing


def test_check_nproc_refuses_more_processes_than_cores():
    with pytest.raises(ValueError, match=f"between 1 and {MAX_NPROC}"):
        check_nproc(MAX_NPROC + 1, "cpu", 128 * MAX_NPROC)
    cores = os.cpu_count() or 1
    check_nproc(min(cores, MAX_NPROC), "cpu", 128)
    if cores < MAX_NPROC:
        with pytest.raises(ValueError, match=f"exceeds the {cores} CPU cores"):
            check_nproc(cores + 1, "cpu", 128 * MAX_NPROC)


def test_replicas_in_sync_tells_rounding_from_drift():
    assert replicas_in_sync([812.25, 812.25 * (1 + 1e-7)])
    assert not replicas_in_sync([812.25, 815.0])


def test_a_rank_error_file_names_the_rank_and_cause(tmp_path):
    files = JobFiles(tmp_path)
    files.error(1).write_text(json.dumps({"rank": 1, "type": "MemoryError", "message": "out of memory"}))
    message = _failure_message(files, 1, ["noise"], 2)
    assert message == ("distributed training failed in rank 1 of 2: MemoryError: out of memory; no version was "
                       "registered")


def test_job_request_round_trips_a_spec_schema(churn_df, tmp_path):
    schema = builtin_spec("credit").schema
    request = JobRequest(launch_id="abc", home="/h", tracking_uri="sqlite:///x.db", model_name="credit",
                         schema=schema, config=CONFIG, tags={"opsagent.proposal": "prop-1"})
    files = JobFiles(tmp_path / "job")
    files.write_request(request, churn_df.head(5))
    back, data = files.read_request()
    assert back == request and len(data) == 5
    line = progress_line(3, 10, {"val_auc": 0.9})
    assert parse_progress(line) == (3, 10, {"val_auc": 0.9}) and parse_progress("UserWarning: x") is None
