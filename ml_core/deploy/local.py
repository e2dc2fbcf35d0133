"""The local backend: the scoring service as a detached process on this machine (``local_process``).

The state file (``HOME/deploy/MODEL.json``) is the source of truth for routing and for the process
(pid, port), so a new ``LocalBackend`` — e.g. after opsagent restarts — finds the running service.
Every routing change is written to the state file, then applied with ``/admin/reload``; the service
loads and smoke-tests new versions before swapping, and on refusal the old state file is restored.
"""

from __future__ import annotations

import sys
import time

import httpx

from ml_core.deploy.base import DeploymentBackend, DeploymentError, DeploymentStatus
from ml_core.deploy.gatecheck import check_gate, noting_override, starting_state
from ml_core.deploy.local_health import exit_detail, replica_health
from ml_core.deploy.local_process import ScoringProcess
from ml_core.deploy.workload import WorkloadHealth
from ml_core.paths import HomeLayout
from ml_core.registry import CHALLENGER, CHAMPION, Registry
from ml_core.serving.app import ADMIN_HEADER
from ml_core.serving.server import free_port
from ml_core.serving.state import (
    DeploymentState,
    GateOverride,
    ensure_admin_token,
    log_path,
    read_state,
    state_path,
    token_path,
    write_state,
)

PORT_ATTEMPTS = 3  # start-up tries when the chosen port is taken before the service binds it


class LocalBackend(DeploymentBackend):
    def __init__(self, layout: HomeLayout, model_name: str, registry: Registry | None = None,
                 port: int | None = None, *, host: str = "127.0.0.1", latency_budget_ms: float | None = None,
                 python: str = sys.executable, start_timeout_s: float = 120.0, seed: int | None = None):
        self.layout = layout.ensure()
        self.model_name = model_name
        self.registry = registry or Registry(layout)
        self.port = port
        self.host = host
        self.latency_budget_ms = latency_budget_ms
        self.start_timeout_s = start_timeout_s
        self.state_file = state_path(layout, model_name)
        self.log_file = log_path(layout, model_name)
        self.process = ScoringProcess(layout, model_name, tracking_uri=self.registry.tracking_uri, host=host,
                                      python=python, seed=seed, log_file=self.log_file)

    # ---- process -------------------------------------------------------------------------------
    def start(self, version: str | None = None, *, force: bool = False, reason: str = "") -> DeploymentStatus:
        old = self._state()
        st, override = starting_state(self.registry, self.model_name, old, version, force=force, reason=reason,
                                      latency_budget_ms=self.latency_budget_ms)
        if self._alive(st.pid):
            if st != old:
                self._apply(old, st)
                self._set_alias(CHAMPION, st.champion)
            return self._wait_ready(override)
        ensure_admin_token(token_path(self.layout, self.model_name))
        if st.pid is not None:  # the last process died without stop(): this start is a restart after a crash
            st = st.model_copy(update={"restarts": st.restarts + 1, "restarted_at": time.time()})
        if st.champion is not None:
            self._set_alias(CHAMPION, st.champion)
        port = self.port or st.port or free_port(self.host)
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self._spawn(st, port)
            try:
                return self._wait_ready(override)
            except DeploymentError as exc:  # its message ends with the log's last lines: this start's exit
                # A free port is only free when asked: another process can bind it while the service is still
                # importing. A port this backend chose is chosen again; one the user fixed is their call.
                lost_port = "address already in use" in str(exc).lower()
                if not lost_port or self.port or attempt == PORT_ATTEMPTS:
                    raise
                port = free_port(self.host)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _spawn(self, st: DeploymentState, port: int) -> None:
        pid = self.process.spawn(port)
        write_state(self.state_file, st.model_copy(update={"pid": pid, "port": port, "host": self.host}))

    def stop(self) -> DeploymentStatus:
        st = self._state()
        self.process.stop(st.pid)
        write_state(self.state_file, st.model_copy(update={"pid": None}))
        return self.status()

    # ---- routing -------------------------------------------------------------------------------
    def deploy_champion(self, version: str, *, force: bool = False, reason: str = "") -> DeploymentStatus:
        version = str(version)
        st = self._state()
        if st.champion == version:
            return self.status()  # routing unchanged: nothing to check (it was checked when it became champion)
        override = check_gate(self.registry, self.model_name, version, "champion", force=force, reason=reason)
        new = st.model_copy(update={
            "champion": version, "previous_champion": st.champion or st.previous_champion,
            "canary": None if st.canary == version else st.canary,
            "canary_weight": 0.0 if st.canary == version else st.canary_weight, "updated_at": time.time()})
        self._apply(st, new.with_override(override) if override else new)
        self._set_alias(CHAMPION, version)
        return self._with_override(override)

    def deploy_canary(self, version: str, weight: float, *, force: bool = False,
                      reason: str = "") -> DeploymentStatus:
        version = str(version)
        if not 0.0 <= weight <= 1.0:
            raise DeploymentError(f"canary weight must be between 0 and 1, got {weight}")
        st = self._state()
        if st.champion is None:
            raise DeploymentError(f"'{self.model_name}' has no champion yet; deploy one first "
                                  f"(deploy_champion or start(version))")
        if version == st.champion:
            raise DeploymentError(f"version {version} is already the champion")
        if not self._alive(st.pid):
            raise DeploymentError("the scoring service is not running; start() it before a canary")
        # A new weight for the canary already routed is no new route: it was checked (or forced) when routed,
        # as promote is.
        override = None if version == st.canary else check_gate(self.registry, self.model_name, version, "canary",
                                                                 force=force, reason=reason)
        new = st.model_copy(update={"canary": version, "canary_weight": float(weight), "updated_at": time.time()})
        self._apply(st, new.with_override(override) if override else new)
        self._set_alias(CHALLENGER, version)
        return self._with_override(override)

    def promote(self) -> DeploymentStatus:
        st = self._state()
        if st.canary is None:
            raise DeploymentError("there is no canary to promote")
        new = st.model_copy(update={"champion": st.canary, "previous_champion": st.champion, "canary": None,
                                    "canary_weight": 0.0, "updated_at": time.time()})
        self._apply(st, new)
        self._set_alias(CHAMPION, new.champion)
        self.registry.delete_alias(self.model_name, CHALLENGER)
        return self.status()

    def rollback(self) -> DeploymentStatus:
        st = self._state()
        if st.canary is not None:
            new = st.model_copy(update={"canary": None, "canary_weight": 0.0, "updated_at": time.time()})
            self._apply(st, new)
            self.registry.delete_alias(self.model_name, CHALLENGER)
        elif st.previous_champion is not None:
            new = st.model_copy(update={"champion": st.previous_champion, "previous_champion": None,
                                        "updated_at": time.time()})
            self._apply(st, new)
            self._set_alias(CHAMPION, new.champion)
        else:
            raise DeploymentError("nothing to roll back: no canary and no previous champion")
        return self.status()

    def status(self) -> DeploymentStatus:
        st = self._state()
        running = self._alive(st.pid)
        ready, reason = False, ""
        url = f"http://{st.host}:{st.port}" if st.port else None
        if running and url:
            try:
                r = httpx.get(f"{url}/ready", timeout=5)
                ready, reason = r.status_code == 200, str(r.json().get("reason", ""))
                answering = r.json().get("pid")
                if answering is not None and answering != st.pid:  # the port was taken before ours bound it
                    ready, reason = False, f"not answering: process {answering} holds port {st.port}, not {st.pid}"
            except (httpx.HTTPError, ValueError) as exc:
                reason = f"not answering: {type(exc).__name__}"
        elif st.pid is not None:
            reason = f"process {st.pid} is not running (see {self.log_file}); start() restarts it"
        else:
            reason = "not started"
        return DeploymentStatus(backend="local", model=self.model_name, running=running, ready=ready,
                                ready_reason=reason, url=url, champion=st.champion, canary=st.canary,
                                canary_weight=st.canary_weight, previous_champion=st.previous_champion,
                                latency_budget_ms=st.latency_budget_ms, updated_at=st.updated_at,
                                pid=st.pid if running else None, detail=f"log: {self.log_file}",
                                overrides=st.overrides)

    def workload_health(self) -> WorkloadHealth | None:
        """The scoring process as the one replica: exited, unready, or restarted after a crash."""
        try:
            st = self._state()
            alive = self._alive(st.pid)
            ended = "" if alive else exit_detail(st.pid, self.process.returncode(st.pid), self.process.log_tail(5))
            return replica_health(self.model_name, st, alive=alive, status=self.status() if alive else None,
                                  ended=ended, now=time.time())
        except Exception:  # the contract: a platform that cannot be read is None, and triage judges the model alone
            return None

    # ---- helpers -------------------------------------------------------------------------------
    def _state(self) -> DeploymentState:
        return read_state(self.state_file, self.model_name)

    def _apply(self, old: DeploymentState, new: DeploymentState) -> None:
        """Write ``new`` and have the running service adopt it; on refusal restore ``old`` and raise."""
        write_state(self.state_file, new)
        if not self._alive(new.pid):
            return  # applied (and readiness-checked) on the next start
        try:
            self._reload()
        except DeploymentError:
            write_state(self.state_file, old)
            raise

    def _reload(self) -> None:
        st = self._state()
        token = ensure_admin_token(token_path(self.layout, self.model_name))
        try:
            r = httpx.post(f"http://{st.host}:{st.port}/admin/reload", headers={ADMIN_HEADER: token},
                           timeout=self.start_timeout_s)
        except httpx.HTTPError as exc:
            raise DeploymentError(f"scoring service did not answer the reload: {exc}") from exc
        if r.status_code != 200:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise DeploymentError(f"the service refused the new routing (HTTP {r.status_code}): {detail}; "
                                  f"routing is unchanged")

    def _set_alias(self, alias: str, version: str | None) -> None:
        if version is not None:
            self.registry.set_alias(self.model_name, alias, version)

    def _wait_ready(self, override: GateOverride | None) -> DeploymentStatus:
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            s = self.status()
            if s.ready or not s.running or time.monotonic() > deadline:
                break
            if "loading" not in s.ready_reason and "not answering" not in s.ready_reason:
                break  # answered with a final reason (no champion, a version failed readiness)
            time.sleep(0.2)
        if not s.running:
            raise DeploymentError("the scoring service exited during start-up; last log lines:\n"
                                  + self.process.log_tail())
        return noting_override(s, override)

    def _with_override(self, override: GateOverride | None) -> DeploymentStatus:
        return noting_override(self.status(), override)

    def _alive(self, pid: int | None) -> bool:
        return self.process.alive(pid)

