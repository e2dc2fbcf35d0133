"""A real ``mlflow server`` on loopback (SQLite backend, local artifacts) for the tests whose pods or
processes must reach the registry over HTTP, as a cluster's pods reach a team's tracking server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MLFLOW = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening_inodes(port: int) -> set[str]:
    """Inodes of the loopback sockets listening on ``port`` (/proc/net/tcp; state 0A is LISTEN)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    return inodes


def _tree(pid: int) -> set[int]:
    """``pid`` and its descendants (/proc/PID/task/*/children)."""
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in task.read_text().split()]
    return out


def listens_on(pid: int, port: int) -> bool:
    """Whether the process ``pid`` (or a child of it) holds the socket listening on ``port``.

    A free port found by binding and closing can be taken by another test's server (pytest-xdist workers start
    servers at once): then this server fails to bind, and /health answers from the other one."""
    inodes = _listening_inodes(port)
    for p in _tree(pid):
        for fd in Path(f"/proc/{p}/fd").glob("*"):
            with contextlib.suppress(OSError):
                if os.readlink(fd).removeprefix("socket:[").removesuffix("]") in inodes:
                    return True
    return False


@contextmanager
def running_mlflow_server(folder: Path, attempts: int = 3) -> Iterator[str]:
    """The server's URL while it runs; fails the test when it does not answer /health within 180 s. A port another
    server took first is given up for a new one (``attempts`` times)."""
    for _ in range(attempts):
        proc, url = _start(folder)
        if proc is not None:
            break
    else:
        pytest.fail(f"mlflow server: every port tried was taken by another server ({attempts} tries)")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _start(folder: Path) -> tuple[subprocess.Popen | None, str]:
    """A started server of our own and its URL, or (None, url) when the port turned out to be another's."""
    port, log_path = free_port(), folder / "mlflow.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([MLFLOW, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                 "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                                 "--artifacts-destination", str(folder / "artifacts")],
                                stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline, foreign = time.monotonic() + 180, False
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            if sys.platform != "linux" or listens_on(proc.pid, port):
                return proc, url
            foreign = True  # someone else's server answers on this port: ours cannot bind it
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=30)
            if foreign or "address already in use" in log_path.read_text().lower():
                return None, url
            pytest.fail(f"mlflow server did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.5)
