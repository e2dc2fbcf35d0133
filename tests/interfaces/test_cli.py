"""The CLI as a user runs it: a real subprocess; bad input gets a message and exit code 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")


def run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPSAGENT_HOME": str(home)}
    return subprocess.run([OPSAGENT, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["train", "--device", "tpu"], "--device must be auto, cpu or cuda"),
    (["train", "--data", "no-such-file.csv"], "not found"),
    (["simulate", "no-such-scenario"], "no scenario 'no-such-scenario'"),
    (["registry", "show", "7"], "has no version 7"),
    (["evaluate", "challenger"], "no alias 'challenger'"),
    (["drift"], "has no champion"),
    (["memory", "search", "drift", "--kind", "gossip"], "--kind must be one of"),
    (["deploy", "canary", "3", "--weight", "0.1"], "has no version 3"),
])
def test_bad_input_is_a_message_not_a_traceback(tmp_path, args, message):
    result = run(args, tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_csv_names_the_problem(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("state,churn\nKS,no\n")
    result = run(["train", "--data", str(bad)], tmp_path)
    assert result.returncode == 2
    assert "required column(s) missing" in result.stderr and "total_day_minutes" in result.stderr


def test_bad_settings_are_reported(tmp_path):
    env = {**os.environ, "OPSAGENT_HOME": str(tmp_path), "OPSAGENT_SERVE_PORT": "not-a-port"}
    result = subprocess.run([OPSAGENT, "deploy", "status"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and "OPSAGENT_SERVE_PORT" in result.stderr


def test_every_command_has_help(tmp_path):
    for args in (["--help"], ["train", "--help"], ["deploy", "canary", "--help"], ["simulate", "--help"],
                 ["drift", "--help"], ["demo", "--help"], ["evaluate", "--help"], ["registry", "list", "--help"],
                 ["memory", "search", "--help"]):
        result = run(args, tmp_path)
        assert result.returncode == 0 and "Usage" in result.stdout, args
