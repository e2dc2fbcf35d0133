"""OPSAGENT_DATABASE_URL's bad values on the command line: a message and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OPSAGENT = str(Path(sys.executable).with_name("opsagent"))


@pytest.mark.parametrize("url, message", [
    ("mysql://u@db/x", "OPSAGENT_DATABASE_URL must be a PostgreSQL URL"),
    ("postgresql://u:hunter2@127.0.0.1:9/x", "Connection refused. Check that the server in OPSAGENT_DATABASE_URL"),
])
def test_a_bad_or_unreachable_database_url_is_a_message(tmp_path, url, message):
    env = {**os.environ, "OPSAGENT_HOME": str(tmp_path / "home"), "OPSAGENT_DATABASE_URL": url}
    done = subprocess.run([OPSAGENT, "approvals", "list"], env=env, capture_output=True, text=True, timeout=120)
    out = " ".join((done.stdout + done.stderr).split())  # rich wraps long lines
    assert done.returncode == 2 and message in out and "Traceback" not in out, out
    assert "hunter2" not in out
