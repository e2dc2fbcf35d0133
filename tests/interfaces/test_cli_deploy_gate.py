"""`opsagent deploy start|canary` and the deploy gate, as a user runs them: real subprocesses, a real service.

A version the evaluation gate has not passed is refused with a message and exit code 2; with --force it is
routed, the override is in the audit log (who, via cli, which version, why) and `deploy status` shows it.
"""

from __future__ import annotations

import copy
import getpass
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.audit import DEPLOY_OVERRIDE, AuditLog
from ml_core.release import register_model_bundle
from ml_core.serving.server import free_port
from ml_core.serving.state import read_state, state_path
from tests.conftest import make_champion_home

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")
NO_VERDICT = "no gate verdict recorded: it was registered without evaluation"

pytestmark = pytest.mark.slow


def _run(home: Path, port: int, *args: str) -> subprocess.CompletedProcess:
    # Wide columns: rich wraps tables and error lines at 80 columns when stdout is not a terminal.
    env = {**os.environ, "OPSAGENT_HOME": str(home), "OPSAGENT_SERVE_PORT": str(port), "COLUMNS": "400"}
    result = subprocess.run([OPSAGENT, *args], capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def _overrides(home: Path) -> list:
    with AuditLog(home / "approvals.db") as log:
        return [e for e in log.entries() if e.event == DEPLOY_OVERRIDE]


def test_an_ungated_version_needs_force_and_the_override_is_audited(tmp_path, churn_df):
    layout, registry, job = make_champion_home(tmp_path / "home", churn_df, epochs=1)  # v1: gated champion
    hotfix = copy.deepcopy(registry.load("churn", job.version))
    hotfix.threshold = min(0.9, hotfix.threshold + 0.05)
    ungated = register_model_bundle(registry, "churn", hotfix, {"parent_version": job.version}).version
    home, port = layout.home, free_port()

    refused = _run(home, port, "deploy", "start", ungated)
    assert refused.returncode == 2, refused.stdout
    assert f"refusing to route churn v{ungated} as champion" in refused.stderr and NO_VERDICT in refused.stderr
    assert "--force" in refused.stderr
    assert read_state(state_path(layout, "churn"), "churn").pid is None  # nothing was started
    try:
        assert _run(home, port, "deploy", "start", job.version).returncode == 0
        refused = _run(home, port, "deploy", "canary", ungated, "--weight", "0.2")
        assert refused.returncode == 2 and f"refusing to route churn v{ungated} as canary" in refused.stderr
        assert _overrides(home) == [] and read_state(state_path(layout, "churn")).canary is None

        forced = _run(home, port, "deploy", "canary", ungated, "--weight", "0.2", "--force", "--reason", "hotfix")
        assert forced.returncode == 0, forced.stderr
        assert "without the evaluation gate's pass" in forced.stdout and "override audited" in forced.stdout
        [entry] = _overrides(home)
        assert (entry.actor, entry.via) == (getpass.getuser(), "cli")
        assert entry.detail == {"model": "churn", "version": ungated, "route": "canary", "gate": NO_VERDICT,
                                "reason": "hotfix"}

        shown = _run(home, port, "deploy", "status")
        assert f"v{ungated} routed as canary without the gate's pass" in shown.stdout and "hotfix" in shown.stdout
        again = _run(home, port, "deploy", "canary", job.version, "--force")  # the champion: refused as before
        assert again.returncode == 2 and "already the champion" in again.stderr and len(_overrides(home)) == 1
    finally:
        _run(home, port, "deploy", "stop")
