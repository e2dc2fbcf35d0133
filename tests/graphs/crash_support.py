"""Shared by the crash tests: a retrain proposal every step of which is reached, and a child process that
accepts it and dies (SIGKILL) at a named fail-point."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from world import make_ctx

from agent.proposals import RetrainProposal
from graphs.runner import GraphRunner
from ml_core.failpoints import ENV

ROOT = Path(__file__).resolve().parents[2]
OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")
CHILD = Path(__file__).with_name("crash_child.py")
START = ["proposed", "answered-accept", "accepted", "executing"]
END = ["executed", "verified"]


def proposal(world, **fields) -> RetrainProposal:
    # A gate that any trained version passes and half the traffic on the canary: every step is reached.
    return RetrainProposal(model="churn", title="retrain churn on the drifted window", rationale="drift",
                           champion_version=world.backend.status().champion, expires_at=time.time() + 3600,
                           brain="offline policy", window_since=world.drift_since, window_until=time.time() + 1,
                           epochs=2, seed=3, gate_min_gain=-1.0, canary_weight=0.5,
                           **fields)


def filed(world, **fields) -> RetrainProposal:
    p = proposal(world, **fields)
    with GraphRunner(make_ctx(world.layout)) as runner:
        runner.file_proposal(p)
    return p


def crash_at(world, p: RetrainProposal, point: str) -> None:
    env = {**os.environ, ENV: point}
    done = subprocess.run([sys.executable, str(CHILD), str(world.layout.home), p.id], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stdout[-2000:], done.stderr[-3000:])


def made_for(world, p: RetrainProposal) -> list[str]:
    return [v.version for v in world.registry.versions_for_proposal("churn", p.id)]
