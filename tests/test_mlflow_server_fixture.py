"""The loopback mlflow server of the tests is its own: a port another test's server took is given up."""

from __future__ import annotations

import tests.mlflow_server as fixture
from tests.mlflow_server import listens_on, running_mlflow_server


def test_a_port_taken_by_another_server_is_given_up_for_a_new_one(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running_mlflow_server(tmp_path / "a") as first:
        taken = int(first.rsplit(":", 1)[1])
        ports = iter([taken])
        real = fixture.free_port
        monkeypatch.setattr(fixture, "free_port", lambda: next(ports, None) or real())
        with running_mlflow_server(tmp_path / "b") as second:
            port = int(second.rsplit(":", 1)[1])
            assert port != taken  # /health answered on the taken port, but from the first server
            assert (tmp_path / "b" / "mlflow.db").exists()


def test_listens_on_tells_the_owner_of_a_port(tmp_path):
    import os
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        other = subprocess.Popen(["sleep", "30"])  # close_fds: it does not inherit the socket
        try:
            assert listens_on(os.getpid(), port)
            assert not listens_on(other.pid, port)
        finally:
            other.kill()
            other.wait()
