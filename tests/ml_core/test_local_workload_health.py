"""LocalBackend.workload_health on a real scoring process: healthy, SIGKILLed (exited, with how it ended), restarted
after the crash (restarts), and stopped on purpose (nothing desired); unready from the service's own status."""

from __future__ import annotations

import os
import signal
import time

import pytest

from ml_core.deploy.base import DeploymentStatus
from ml_core.deploy.local import LocalBackend
from ml_core.deploy.local_health import describe_wait_status, replica_health
from ml_core.registry import Registry
from ml_core.serving.state import DeploymentState
from tests.conftest import make_champion_home

MODEL = "churn"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, churn_df):
    """(home, backend, version): one churn version, two epochs (only its process matters here)."""
    layout, registry, job = make_champion_home(tmp_path_factory.mktemp("workload") / "home", churn_df, epochs=2)
    b = LocalBackend(layout, MODEL, registry, seed=0, latency_budget_ms=10_000)
    yield layout, b, job.version
    b.stop()


def wait_gone(b: LocalBackend, pid: int) -> None:
    deadline = time.monotonic() + 10
    while b._alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_killed_process_is_exited_then_restarted_then_stopped(served) -> None:
    home, backend, version = served
    pid = backend.start(version).pid
    assert pid is not None
    healthy = backend.workload_health()
    assert healthy is not None and (healthy.desired, healthy.ready, healthy.problems) == (1, 1, [])
    assert not healthy.unhealthy and healthy.backend == "local" and healthy.model == MODEL

    os.kill(pid, signal.SIGKILL)
    # Another backend object (triage's) is not the parent: it reads the unreaped process's wait status from /proc.
    other = LocalBackend(home, MODEL, Registry(home))
    wait_gone(other, pid)
    seen = other.workload_health()
    assert seen is not None and seen.unhealthy and (seen.desired, seen.ready) == (1, 0)
    [problem] = seen.problems
    assert problem.reason == "exited" and problem.pod == f"{MODEL}-scoring (pid {pid})"
    assert "killed by SIGKILL" in problem.detail and "last log lines" in problem.detail
    # The parent reaps it and reads the same from its return code.
    own = backend.workload_health()
    assert own is not None and [p.reason for p in own.problems] == ["exited"]
    assert "killed by SIGKILL" in own.problems[0].detail

    before = time.time()
    s = backend.start()  # a restart after the crash
    assert s.ready and s.pid != pid
    back = backend.workload_health()
    assert back is not None and (back.desired, back.ready, back.restarts) == (1, 1, 1)
    [restarted] = back.problems
    assert restarted.reason == "restarts" and restarted.restarts == 1
    assert restarted.since is not None and restarted.since >= before

    backend.stop()  # meant to be down: nothing desired, nothing wrong
    down = backend.workload_health()
    assert down is not None and (down.desired, down.ready, down.problems) == (0, 0, []) and not down.unhealthy


def test_a_process_that_answers_but_is_not_ready_is_unready() -> None:
    st = DeploymentState(model=MODEL, champion="1", pid=4242, port=1)
    status = DeploymentStatus(backend="local", model=MODEL, running=True, ready=False,
                              ready_reason="version 1 failed readiness: shape mismatch")
    h = replica_health(MODEL, st, alive=True, status=status, ended="", now=1.0)
    assert (h.desired, h.ready) == (1, 0)
    assert [(p.reason, p.detail) for p in h.problems] == [("unready", "version 1 failed readiness: shape mismatch")]


def test_a_never_started_service_desires_nothing() -> None:
    h = replica_health(MODEL, DeploymentState(model=MODEL, champion="1"), alive=False, status=None, ended="", now=1.0)
    assert (h.desired, h.ready, h.problems) == (0, 0, [])


@pytest.mark.parametrize(("status", "words"), [(9, "killed by SIGKILL"), (1 << 8, "exit code 1"),
                                               (0, "exit code 0")])
def test_wait_statuses_in_words(status: int, words: str) -> None:
    assert describe_wait_status(status) == words
