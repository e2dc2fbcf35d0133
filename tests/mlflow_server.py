"""A real ``mlflow server`` on loopback (SQLite backend, local artifacts) for the tests whose pods or
processes must reach the registry over HTTP, as a cluster's pods reach a team's tracking server."""

from __future__ import annotations

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


@contextmanager
def running_mlflow_server(folder: Path) -> Iterator[str]:
    """The server's URL while it runs; fails the test when it does not answer /health within 180 s."""
    port, log_path = free_port(), folder / "mlflow.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([MLFLOW, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                                 "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                                 "--artifacts-destination", str(folder / "artifacts")],
                                stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"mlflow server did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.5)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
