"""Real team servers on loopback for the tests: a throw-away PostgreSQL cluster and a `chroma run` server.

PostgreSQL: Debian's ``initdb``/``pg_ctl`` (/usr/lib/postgresql/*/bin) in a temporary folder, trust auth, on a
free loopback port; run as the ``postgres`` user when the tests run as root (initdb refuses root). The "pg"
helper's ``tests/pg_support.py`` does the same for the store tests; this one stays small until that one lands.
Chroma: the chromadb package's own ``chroma run`` CLI. Both skip with the reason when the binaries are absent.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ml_core.serving.server import free_port

START_TIMEOUT_S = 60.0  # a cold initdb + start on a loaded 2-core CI machine takes a few seconds; 60 is generous


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the cluster as Debian's ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A running PostgreSQL; yields the base URL ``postgresql+psycopg://postgres@127.0.0.1:PORT``."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as a non-root user")
    root = Path(tempfile.mkdtemp(prefix="opsagent-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8", "--no-sync"]), check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                           str(root / "log"), "-w", "-t", str(int(START_TIMEOUT_S)), "start"]),
                             capture_output=True, text=True)
    try:
        if started.returncode != 0:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    """Create database ``name`` on the server at ``base_url`` and return its SQLAlchemy URL."""
    import psycopg

    with psycopg.connect(base_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres",
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"


def chroma_binary() -> str | None:
    """The ``chroma`` CLI installed beside this interpreter (the chromadb package's), if any."""
    beside = Path(sys.executable).parent / "chroma"
    return str(beside) if beside.exists() else shutil.which("chroma")


@contextlib.contextmanager
def chroma_server(path: Path) -> Iterator[str]:
    """``chroma run --path PATH`` on a free loopback port; yields its URL once its heartbeat answers."""
    binary = chroma_binary()
    if binary is None:
        pytest.skip("no `chroma` CLI (it comes with the chromadb package)")
    port = free_port()
    log = open(path.parent / f"chroma-{port}.log", "wb")  # noqa: SIM115 -- closed in the finally below
    proc = subprocess.Popen([binary, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_heartbeat(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def _wait_heartbeat(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chroma run exited with {proc.returncode} before answering")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"chroma run did not answer {url}/api/v2/heartbeat within {START_TIMEOUT_S:.0f} s")
