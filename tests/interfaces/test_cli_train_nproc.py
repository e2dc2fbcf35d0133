"""`opsagent train --nproc`: bad values are a message and exit 2; a rank killed mid-run leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ml_core.paths import HomeLayout
from ml_core.registry import Registry

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")


@pytest.mark.slow
def test_a_killed_rank_leaves_no_version_and_no_live_run(tmp_path):
    """Rank 0 is killed (SIGKILL) after training, inside its MLflow run and before registering: torchrun stops
    the job, the CLI says so with exit code 1, the run is marked KILLED and no version exists."""
    env = {**os.environ, "OPSAGENT_HOME": str(tmp_path), "OPSAGENT_FAILPOINTS": "after_training"}
    result = subprocess.run([OPSAGENT, "train", "--nproc", "2", "--epochs", "2", "--device", "cpu"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert "distributed training failed" in message and "no version was registered" in message
    assert "full output: " in message and list((tmp_path / "logs").glob("ddp-*.log"))
    assert "Traceback" not in result.stderr
    registry = Registry(HomeLayout(tmp_path))
    assert registry.models() == []
    runs = registry.client.search_runs([registry.experiment_id()])
    assert [r.info.status for r in runs] == ["KILLED"]


@pytest.mark.parametrize("args, message", [
    (["--nproc", "0"], "Invalid value for '--nproc'"),
    (["--nproc", "5", "--batch-size", "8", "--device", "cpu"], "fewer than 2 rows per process"),
])
def test_bad_nproc_is_a_message_and_exit_2(tmp_path, args, message):
    env = {**os.environ, "OPSAGENT_HOME": str(tmp_path)}
    result = subprocess.run([OPSAGENT, "train", *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr
