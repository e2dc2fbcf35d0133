"""A real PostgreSQL server for the tests: Debian's ``initdb``/``pg_ctl`` on a free loopback port in a temp dir.

initdb refuses to run as root, and the suite runs as root in CI: the server then runs as the ``postgres`` user
(created by Debian's package) in a directory it owns. Without the binaries, or as root without that user, the
tests that need it are skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

INSTALL_HINT = "install PostgreSQL (apt-get install -y postgresql) to run the PostgreSQL store tests"


@dataclass
class PgServer:
    root: Path
    port: int
    user: str
    run_as: list[str]  # the command prefix running a binary as the server's owner
    bindir: Path

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate",
                        "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/VERSION/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def why_not() -> str | None:
    """Why no server can be started here, or None."""
    if find_bindir() is None:
        return f"no PostgreSQL binaries (initdb) found; {INSTALL_HINT}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return f"running as root and there is no 'postgres' user to run initdb as; {INSTALL_HINT}"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing, so initdb cannot run as the postgres user"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> PgServer:
    """initdb + pg_ctl start on a free loopback port; settings for a throwaway test server (no fsync)."""
    bindir = find_bindir()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="opsagent-pg-"))  # not under pytest's tmp: the postgres user must enter it
    run_as: list[str] = []
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(root, account.pw_uid, account.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    user = "postgres"
    data = root / "data"
    subprocess.run([*run_as, str(bindir / "initdb"), "-D", str(data), "-U", user, "-A", "trust", "-E", "UTF8",
                    "--no-sync", "--no-instructions"], check=True, capture_output=True, timeout=300)
    port = free_port()
    options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off "
               "-c full_page_writes=off -c shared_buffers=32MB -c max_connections=200")
    started = subprocess.run([*run_as, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                              str(root / "server.log"), "-w", "-t", "120", "start"], capture_output=True, text=True,
                             timeout=180)
    if started.returncode != 0:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {started.stdout}{started.stderr}{log[-2000:]}")
    return PgServer(root=root, port=port, user=user, run_as=run_as, bindir=bindir)
