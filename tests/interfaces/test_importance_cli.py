"""`opsagent registry importance` as a user runs it (a real subprocess on a home with a trained churn champion)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")


def run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPSAGENT_HOME": str(home), "COLUMNS": "120"}
    return subprocess.run([OPSAGENT, "registry", "importance", *args], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.fixture(scope="module")
def home(champion_home) -> Path:
    layout, _, _ = champion_home
    return layout.home


def test_json_has_every_column_ranked(home, champion_home):
    _, _, job = champion_home
    result = run(["--json"], home)  # default: the champion
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got == json.loads(job.importance.model_dump_json())  # what train_and_register stored with v1
    assert len(got["features"]) == 19 and [f["rank"] for f in got["features"]] == list(range(1, 20))
    assert got["version"] == "1" and got["rows_from"] == "test split" and got["metric"] == "auc"


def test_table_and_chart(home, champion_home, tmp_path):
    _, _, job = champion_home
    chart = tmp_path / "charts" / "importance.png"
    result = run(["1", "--model", "churn", "--top", "5", "--plot", str(chart)], home)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "churn v1 — feature importance" in out and "AUC drop" in out
    top = job.importance.features[0]
    assert f"{top.feature}" in out and f"{top.share:.1%}" in out
    assert job.importance.features[5].feature not in out  # --top 5 shows five
    assert "14 more columns" in out and "on 1000 rows (test split)" in out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"chart: {chart}" in out


@pytest.mark.parametrize("args, message", [
    (["7"], "has no version 7"),
    (["challenger"], "no alias 'challenger'"),
    (["--plot", "chart.jpg"], "ending in .png"),
    (["--model", "nosuch"], "nosuch"),
])
def test_bad_input_is_a_message(home, args, message):
    result = run(args, home)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
