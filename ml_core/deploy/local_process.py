"""The local backend's scoring process: one model's scoring service as a detached process group on this machine.

Spawned in its own session (so a signal to the group reaches every process it started) with the backend's
registry and team database in its environment, its output appended to the model's log. A pid read back from the
state file is only taken for this service while ``/proc`` shows the same command line and a live thread: pids are
reused, and a group leader is a zombie as soon as its main thread exits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import ml_core
from ml_core.deploy.local_health import proc_state
from ml_core.paths import DATABASE_URL_ENV, TRACKING_URI_ENV, HomeLayout

STOP_GRACE_S = 10.0  # how long SIGTERM gets (the service drains its requests) before SIGKILL


class ScoringProcess:
    """Start, recognise and stop the scoring service of ``model_name``; the pid itself lives in the state file."""

    def __init__(self, layout: HomeLayout, model_name: str, *, tracking_uri: str, host: str, python: str,
                 seed: int | None, log_file: Path):
        self.layout = layout
        self.model_name = model_name
        self.tracking_uri = tracking_uri
        self.host = host
        self.python = python
        self.seed = seed
        self.log_file = log_file
        self._proc: subprocess.Popen | None = None  # only when this object started the process

    def spawn(self, port: int) -> int:
        """Start the service on ``port`` (it binds it itself; see the backend's retry) and return its pid."""
        cmd = [self.python, "-m", "ml_core.serving", "--home", str(self.layout.home), "--model", self.model_name,
               "--port", str(port), "--host", self.host]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        env = dict(os.environ)
        # The service reads this backend's registry (a team's tracking server or database, maybe): through the
        # environment, as a container gets it, so a password in the URI stays out of the process list.
        env[TRACKING_URI_ENV] = self.tracking_uri
        if self.layout.database_url:  # the team database: in the environment, not on a command line `ps` shows
            env[DATABASE_URL_ENV] = self.layout.database_url
        root = str(Path(ml_core.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        with open(self.log_file, "ab") as out:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True, env=env, cwd=root)
        return self._proc.pid

    def stop(self, pid: int | None) -> None:
        """End the service's process group (SIGTERM, then SIGKILL after ``STOP_GRACE_S``) and reap it if ours."""
        if pid is not None and self.alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while self.alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.alive(pid):
                os.killpg(pid, signal.SIGKILL)
                time.sleep(0.2)
        if self._proc is not None:
            self._proc.wait(timeout=5)
            self._proc = None

    def alive(self, pid: int | None) -> bool:
        """Whether ``pid`` is this model's scoring service and still runs."""
        if pid is None:
            return False
        if self._proc is not None and self._proc.pid == pid:
            return self._proc.poll() is None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            states = [proc_state(t / "stat") for t in Path(f"/proc/{pid}/task").iterdir()]
        except OSError:
            return False
        # Guard against pid reuse (it must be our service) and zombies. A group leader shows "Z" as soon
        # as its main thread exits, while other threads still run: alive while any thread is not a zombie.
        return (b"ml_core.serving" in cmdline or not cmdline) and any(st not in ("Z", "X", "") for st in states)

    def returncode(self, pid: int | None) -> int | None:
        """The exit code of ``pid`` when this object started it and it has ended; else None (unknown or running)."""
        return self._proc.poll() if self._proc is not None and self._proc.pid == pid else None

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the service's log (what a failed start printed)."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
