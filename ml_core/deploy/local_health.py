"""The local backend's workload health: its one replica is the scoring process.

What ``kubectl get pods`` would say of it: the process gone (``exited``, with how it ended when that can still be
read, and the log's last lines), running but failing ``/ready`` (``unready``), or restarted after a crash
(``restarts``). One replica is desired while a champion is routed and the service was started (``stop()`` clears
the pid: a stopped service is meant to be down, not broken).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from ml_core.deploy.base import DeploymentStatus
from ml_core.deploy.workload import PodProblem, WorkloadHealth
from ml_core.serving.state import DeploymentState

MAX_DETAIL = 400  # characters of the platform's own words kept per problem: a log tail, not the log


def replica_name(model: str, pid: int | None) -> str:
    return f"{model}-scoring (pid {pid})" if pid is not None else f"{model}-scoring"


def describe_wait_status(status: int) -> str:
    """``waitpid``'s status in words: 'killed by SIGKILL' or 'exit code 1'."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            return f"killed by {signal.Signals(sig).name}"
        except ValueError:
            return f"killed by signal {sig}"
    return f"exit code {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else f"wait status {status}"


def zombie_exit_status(pid: int) -> int | None:
    """The wait status of a process that has exited but not been reaped by its parent (``/proc/PID/stat``'s last
    field, Linux 3.5+); None once it is reaped, or where /proc cannot tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return int(fields[-1]) if fields and fields[0] in ("Z", "X") and fields[-1].lstrip("-").isdigit() else None


def exit_detail(pid: int | None, returncode: int | None, log_tail: str) -> str:
    """How the process ended (its return code when this process started it, else its zombie's wait status, else
    unknown) and the log's last lines."""
    if returncode is not None:
        how = describe_wait_status(-returncode if returncode < 0 else returncode << 8)
    elif pid is not None and (status := zombie_exit_status(pid)) is not None:
        how = describe_wait_status(status)
    else:
        how = "how it ended is unknown (it was not started by this process)"
    tail = " | ".join(line.strip() for line in log_tail.splitlines()[-3:] if line.strip()) or "(empty)"
    return f"process {pid} is gone: {how}; last log lines: {tail}"[:MAX_DETAIL]


def replica_health(model: str, st: DeploymentState, *, alive: bool, status: DeploymentStatus | None,
                   ended: str, now: float) -> WorkloadHealth:
    """The workload health of the local service from its state file, whether its process lives, its status
    (read when it lives) and, when it does not, how it ended (``exit_detail``)."""
    desired = 1 if st.champion is not None and st.pid is not None else 0
    pod = replica_name(model, st.pid)
    problems: list[PodProblem] = []
    ready = 0
    if desired and not alive:
        problems.append(PodProblem(pod=pod, reason="exited", detail=ended, restarts=st.restarts))
    elif desired and status is not None and not status.ready:
        problems.append(PodProblem(pod=pod, reason="unready", detail=status.ready_reason[:MAX_DETAIL],
                                   restarts=st.restarts))
    elif desired:
        ready = 1
        if st.restarted_at is not None:  # running and ready again, after a crash the backend restarted it from
            problems.append(PodProblem(pod=pod, reason="restarts", restarts=st.restarts, since=st.restarted_at,
                                       detail=f"restarted {st.restarts} time(s) after its process died"))
    return WorkloadHealth(backend="local", model=model, desired=desired, ready=ready, restarts=st.restarts,
                          problems=problems, observed_at=now)


def proc_state(stat: Path) -> str:
    """A process's or thread's state letter from its ``/proc/.../stat`` ("R", "S", "Z" ...); "" when unreadable."""
    try:
        return stat.read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return ""
