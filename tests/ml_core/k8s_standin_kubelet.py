"""A kubelet for the stand-in that runs a pod's containers as real processes on this machine.

Set ``standin.pytorchjobs.kubelet = ProcessKubelet(root)``: the operator's pods then run for real, the init
container first and then the main one, each ``command + args`` with ``$(VAR)`` expanded from the container's
environment (as the kubelet does), ``python`` being this interpreter. What a node gives a pod and a laptop does
not is mapped: each volume mount becomes a folder of the pod's own under ``root``, the job's pod hostnames
(``<job>-master-0``) resolve to 127.0.0.1, and the rendezvous port becomes a free one per job, so parallel test
runs never meet. The pod's phase and container states follow the processes; their output is in
``root/<pod>/<container>.log``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProcessKubelet:
    def __init__(self, root: Path, lock: threading.RLock, now: Any):
        self.root, self.lock, self.now = root, lock, now
        self.ports: dict[str, int] = {}

    def _translate(self, job: str, value: str, mounts: dict[str, Path]) -> str:
        for path, local in mounts.items():
            if value == path or value.startswith(path + "/"):
                return str(local) + value[len(path):]
        if value.startswith(f"{job}-"):
            return "127.0.0.1"  # a pod's hostname: this machine
        return value

    def _argv(self, job: str, container: dict[str, Any], env: dict[str, str], mounts: dict[str, Path]) -> list[str]:
        """``env``: the container's own environment, the only one the kubelet expands ``$(VAR)`` from."""
        argv = [VAR.sub(lambda m: env.get(m[1], m[0]), a) for a in [*container["command"], *container["args"]]]
        argv = [self._translate(job, a, mounts) for a in argv]
        for i, a in enumerate(argv[:-1]):
            if a == "--master-port":
                argv[i + 1] = str(self.ports[job])
        return [sys.executable if a == "python" else a for a in argv]

    def _env(self, job: str, container: dict[str, Any], mounts: dict[str, Path]) -> dict[str, str]:
        own = {e["name"]: self._translate(job, str(e["value"]), mounts) for e in container.get("env", [])
               if "value" in e}
        for key in ("MASTER_PORT", "PET_MASTER_PORT"):
            if key in own:
                own[key] = str(self.ports[job])
        return own

    def start(self, pod: dict[str, Any], job: str) -> None:
        """Run the pod in a thread: init container, then the main one; the pod's status follows."""
        self.ports.setdefault(job, _free_port())
        folder = self.root / pod["metadata"]["name"]
        mounts: dict[str, Path] = {}
        for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]:
            for m in c.get("volumeMounts", []):
                if m["mountPath"] != "/dev/shm":
                    mounts[m["mountPath"]] = folder / m["name"]
        for local in mounts.values():
            local.mkdir(parents=True, exist_ok=True)
        threading.Thread(target=self._run, args=(pod, job, folder, mounts), daemon=True).start()

    def _run(self, pod: dict[str, Any], job: str, folder: Path, mounts: dict[str, Path]) -> None:
        st = pod["status"]
        steps = [(c, st["initContainerStatuses"][0]) for c in pod["spec"]["initContainers"]]
        steps += [(c, st["containerStatuses"][0]) for c in pod["spec"]["containers"]]
        for container, status in steps:
            own = self._env(job, container, mounts)
            env = {**os.environ, **own}
            with self.lock:
                status["state"], status["ready"] = {"running": {"startedAt": self.now()}}, True
                st["phase"] = "Running" if container in pod["spec"]["containers"] else "Pending"
            with open(folder / f"{container['name']}.log", "w") as log:
                code = subprocess.run(self._argv(job, container, own, mounts), env=env, stdout=log,
                                      stderr=subprocess.STDOUT, timeout=900).returncode
            with self.lock:
                status["ready"] = False
                status["state"] = {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                                  "finishedAt": self.now()}}
                if code != 0:
                    st["phase"] = "Failed"
                    return
        with self.lock:
            st["phase"] = "Succeeded"
