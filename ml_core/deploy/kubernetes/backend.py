"""The Kubernetes backend: the scoring service as a Deployment per model, routing in ConfigMaps.

The routing rules are the local backend's (``ml_core.deploy.local``): the same gate check before a version is
routed, the same champion/canary/previous-champion moves, the same registry aliases. What differs is how a new
routing reaches the service: a rolling update to pods that read it on start (``objects.ModelObjects``), with
the routing in force changed only once every new pod passed readiness.
"""

from __future__ import annotations

import time

from kubernetes import client

from ml_core.deploy.base import DeploymentBackend, DeploymentError, DeploymentStatus
from ml_core.deploy.gatecheck import check_gate, noting_override, starting_state
from ml_core.deploy.kubernetes.api import make_api_client
from ml_core.deploy.kubernetes.health import pod_problem, recent_events, restarts_of
from ml_core.deploy.kubernetes.manifests import KubeSpec
from ml_core.deploy.kubernetes.objects import ModelObjects, rolled_out
from ml_core.deploy.workload import WorkloadHealth
from ml_core.registry import CHALLENGER, CHAMPION, Registry
from ml_core.serving.state import DeploymentState


class KubernetesBackend(DeploymentBackend):
    """``KubernetesBackend("churn", registry, KubeSpec(namespace="ml", image="registry/opsagent:1"))`` with the
    kubeconfig's current context; pass ``api_client`` (or ``host``) to talk to a given API server."""

    def __init__(self, model_name: str, registry: Registry, kube: KubeSpec | None = None, *,
                 api_client: client.ApiClient | None = None, kubeconfig: str | None = None,
                 context: str | None = None, host: str | None = None, spec_yaml: str | None = None,
                 latency_budget_ms: float | None = None, poll_s: float = 1.0, retry_base_s: float = 0.2):
        self.model_name = model_name
        self.registry = registry
        self.kube = kube or KubeSpec()
        self.latency_budget_ms = latency_budget_ms
        self.api_client = api_client or make_api_client(kubeconfig=kubeconfig, context=context, host=host)
        self.objects = ModelObjects(self.api_client, model_name, self.kube, spec_yaml=spec_yaml, poll_s=poll_s,
                                    retry_base_s=retry_base_s)

    # ---- service -------------------------------------------------------------------------------
    def start(self, version: str | None = None, *, force: bool = False, reason: str = "") -> DeploymentStatus:
        st, override = starting_state(self.registry, self.model_name, self.objects.routing(), version, force=force,
                                      reason=reason, latency_budget_ms=self.latency_budget_ms)
        if st.champion is None:
            raise DeploymentError(f"'{self.model_name}' has no champion yet; name a version to start with")
        self.objects.roll_out(st, replicas=self.kube.replicas)
        self._set_alias(CHAMPION, st.champion)
        return noting_override(self.status(), override)

    def stop(self) -> DeploymentStatus:
        """Scale to zero replicas; the Deployment, Service and routing stay for the next start."""
        if self.objects.deployment() is not None:
            self.objects.scale(0)
        return self.status()

    # ---- routing -------------------------------------------------------------------------------
    def deploy_champion(self, version: str, *, force: bool = False, reason: str = "") -> DeploymentStatus:
        version = str(version)
        st = self.objects.routing()
        if st.champion == version:
            return self.status()
        override = check_gate(self.registry, self.model_name, version, "champion", force=force, reason=reason)
        new = st.model_copy(update={
            "champion": version, "previous_champion": st.champion or st.previous_champion,
            "canary": None if st.canary == version else st.canary,
            "canary_weight": 0.0 if st.canary == version else st.canary_weight, "updated_at": time.time()})
        self._apply(new.with_override(override) if override else new)
        self._set_alias(CHAMPION, version)
        return noting_override(self.status(), override)

    def deploy_canary(self, version: str, weight: float, *, force: bool = False,
                      reason: str = "") -> DeploymentStatus:
        version = str(version)
        if not 0.0 <= weight <= 1.0:
            raise DeploymentError(f"canary weight must be between 0 and 1, got {weight}")
        st = self.objects.routing()
        if st.champion is None:
            raise DeploymentError(f"'{self.model_name}' has no champion yet; deploy one first "
                                  f"(deploy_champion or start(version))")
        if version == st.champion:
            raise DeploymentError(f"version {version} is already the champion")
        dep = self.objects.deployment()
        if dep is None or not dep.spec.replicas:
            raise DeploymentError("the scoring service is not running; start() it before a canary")
        override = None if version == st.canary else check_gate(self.registry, self.model_name, version, "canary",
                                                                 force=force, reason=reason)
        new = st.model_copy(update={"canary": version, "canary_weight": float(weight), "updated_at": time.time()})
        self._apply(new.with_override(override) if override else new)
        self._set_alias(CHALLENGER, version)
        return noting_override(self.status(), override)

    def promote(self) -> DeploymentStatus:
        st = self.objects.routing()
        if st.canary is None:
            raise DeploymentError("there is no canary to promote")
        new = st.model_copy(update={"champion": st.canary, "previous_champion": st.champion, "canary": None,
                                    "canary_weight": 0.0, "updated_at": time.time()})
        self._apply(new)
        self._set_alias(CHAMPION, new.champion)
        self.registry.delete_alias(self.model_name, CHALLENGER)
        return self.status()

    def rollback(self) -> DeploymentStatus:
        st = self.objects.routing()
        if st.canary is not None:
            self._apply(st.model_copy(update={"canary": None, "canary_weight": 0.0, "updated_at": time.time()}))
            self.registry.delete_alias(self.model_name, CHALLENGER)
        elif st.previous_champion is not None:
            new = st.model_copy(update={"champion": st.previous_champion, "previous_champion": None,
                                        "updated_at": time.time()})
            self._apply(new)
            self._set_alias(CHAMPION, new.champion)
        else:
            raise DeploymentError("nothing to roll back: no canary and no previous champion")
        return self.status()

    # ---- what the cluster says -----------------------------------------------------------------
    def status(self) -> DeploymentStatus:
        st, dep = self.objects.routing(), self.objects.deployment()
        want = int(dep.spec.replicas or 0) if dep is not None else 0
        ready_n = int(dep.status.ready_replicas or 0) if dep is not None else 0
        running = dep is not None and want > 0 and int(dep.status.replicas or 0) > 0
        if dep is None:
            reason = "not started: no Deployment"
        elif want == 0:
            reason = "stopped: scaled to 0 replicas"
        else:
            problems = [p for p in (pod_problem(pod) for pod in self.objects.pods()) if p is not None]
            reason = f"{ready_n}/{want} replicas ready" + (
                "; " + "; ".join(f"{p.pod}: {p.reason} {p.detail}" for p in problems) if problems else "")
            if not rolled_out(dep):
                reason += "; a rollout is in progress"
        return DeploymentStatus(
            backend="kubernetes", model=self.model_name, running=running, ready=running and ready_n > 0,
            ready_reason=reason, url=f"http://{self.objects.name}.{self.kube.namespace}.svc.cluster.local",
            champion=st.champion, canary=st.canary, canary_weight=st.canary_weight,
            previous_champion=st.previous_champion, latency_budget_ms=st.latency_budget_ms,
            updated_at=st.updated_at, detail=self._detail(), overrides=st.overrides)

    def workload_health(self) -> WorkloadHealth | None:
        try:
            dep = self.objects.deployment()
            pods, events = self.objects.pods(), self.objects.events()
        except DeploymentError:  # unreachable or refused: triage judges on the model's signals alone
            return None
        problems = [p for p in (pod_problem(pod) for pod in pods) if p is not None]
        return WorkloadHealth(
            backend="kubernetes", model=self.model_name, observed_at=time.time(),
            desired=int(dep.spec.replicas or 0) if dep is not None else 0,
            ready=int(dep.status.ready_replicas or 0) if dep is not None else 0,
            restarts=sum(restarts_of(p) for p in pods), problems=problems,
            events=recent_events(events, self.objects.name))

    # ---- helpers -------------------------------------------------------------------------------
    def _apply(self, new: DeploymentState) -> None:
        if self.latency_budget_ms is not None:
            new = new.model_copy(update={"latency_budget_ms": self.latency_budget_ms})
        self.objects.roll_out(new)

    def _set_alias(self, alias: str, version: str | None) -> None:
        if version is not None:
            self.registry.set_alias(self.model_name, alias, version)

    def _detail(self) -> str:
        text = f"Deployment {self.kube.namespace}/{self.objects.name}, image {self.kube.image}"
        try:
            if self.objects.kserve_installed():
                text += ("; KServe's InferenceService CRD (serving.kserve.io/v1beta1) is installed: this backend "
                         "routes with a Deployment and ConfigMaps, not canaryTrafficPercent")
        except DeploymentError as exc:
            text += f"; API discovery failed: {exc}"
        return text
