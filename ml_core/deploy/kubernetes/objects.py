"""One model's objects on the cluster: reading the routing in force, rolling a new routing revision out, and
undoing a rollout that did not become ready. ``KubernetesBackend`` decides what the routing should be; this
module makes the cluster serve it, or leaves it serving the old one."""

from __future__ import annotations

import copy
import time
from typing import Any

from kubernetes import client

from ml_core.deploy.base import DeploymentError
from ml_core.deploy.kubernetes import api
from ml_core.deploy.kubernetes.health import pod_problem
from ml_core.deploy.kubernetes.manifests import (
    REVISION_ANNOTATION,
    STATE_KEY,
    KubeSpec,
    deployment,
    resource_name,
    revision,
    routing_configmap,
    selector,
    service,
)
from ml_core.serving.state import DeploymentState

KSERVE_GROUP = "serving.kserve.io"
KSERVE_VERSION = "v1beta1"


class ModelObjects:
    """The Deployment, Service and routing ConfigMaps of ``model`` in ``kube.namespace``."""

    def __init__(self, api_client: client.ApiClient, model: str, kube: KubeSpec, *, spec_yaml: str | None = None,
                 poll_s: float = 1.0, retry_base_s: float = 0.2):
        self.api_client = api_client
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.model, self.kube, self.spec_yaml = model, kube, spec_yaml
        self.name = resource_name(model)
        self.ns = kube.namespace
        self.poll_s, self.retry_base_s = poll_s, retry_base_s

    def _call(self, fn: Any, *args: Any, what: str, **kwargs: Any) -> Any:
        return api.call(fn, *args, what=what, retry_base_s=self.retry_base_s, **kwargs)

    # ---- reads ---------------------------------------------------------------------------------
    def routing(self) -> DeploymentState:
        """The routing in force (an empty one before the first deploy)."""
        cm = api.exists(self.core.read_namespaced_config_map, f"{self.name}-routing", self.ns,
                        what="read the routing ConfigMap", retry_base_s=self.retry_base_s)
        if cm is None or not (cm.data or {}).get(STATE_KEY):
            return DeploymentState(model=self.model)
        return DeploymentState.model_validate_json(cm.data[STATE_KEY])

    def deployment(self) -> Any | None:
        return api.exists(self.apps.read_namespaced_deployment, self.name, self.ns, what="read the Deployment",
                          retry_base_s=self.retry_base_s)

    def pods(self) -> list[Any]:
        return list(self._call(self.core.list_namespaced_pod, self.ns, label_selector=selector(self.model),
                               what="list the model's pods").items)

    def events(self) -> list[Any]:
        return list(self._call(self.core.list_namespaced_event, self.ns, what="list events").items)

    def kserve_installed(self) -> bool:
        """Whether the API server offers KServe's InferenceService (``serving.kserve.io/v1beta1``)."""
        groups = self._call(client.ApisApi(self.api_client).get_api_versions, what="API discovery").groups
        return any(g.name == KSERVE_GROUP and any(v.version == KSERVE_VERSION for v in g.versions) for g in groups)

    # ---- roll-out ------------------------------------------------------------------------------
    def roll_out(self, new: DeploymentState, *, replicas: int | None = None, timeout_s: float | None = None) -> None:
        """Make the pods serve ``new`` and only then record it as the routing in force. Raises
        ``DeploymentError`` with the new pods' reasons when they are not all ready in time; the Deployment is
        then put back to its previous pod template, and the routing in force is untouched."""
        rev = revision(new, self.spec_yaml)
        api.create(self.core.create_namespaced_config_map, self.ns,
                   routing_configmap(new, self.kube, rev=rev, spec_yaml=self.spec_yaml),
                   what="create the routing revision", retry_base_s=self.retry_base_s)
        api.create(self.core.create_namespaced_service, self.ns, service(self.model, self.kube),
                   what="create the Service", retry_base_s=self.retry_base_s)
        wanted = deployment(new, self.kube, replicas=replicas, spec_yaml=self.spec_yaml)
        previous = self.deployment()
        if previous is None:
            self._call(self.apps.create_namespaced_deployment, self.ns, wanted, what="create the Deployment")
        else:
            old_template = self.api_client.sanitize_for_serialization(previous.spec.template)
            self._set_template(wanted["spec"]["template"], replicas)
        failure = self.wait_rolled_out(rev, timeout_s or self.kube.rollout_timeout_s)
        if failure is None:
            self._record(new, rev)
            return
        if previous is None:  # nothing to go back to: leave the pods for `kubectl describe`
            after = (f"the Deployment is left for inspection (kubectl describe pods -l {selector(self.model)}); "
                     f"no routing was recorded")
        else:
            if _revision_of(previous) != rev:
                self._set_template(old_template, None)
                self._delete_revision(rev)
            after = "the rollout was undone and routing is unchanged"
        raise DeploymentError(f"{self.name}: the new pods did not all become ready within "
                              f"{timeout_s or self.kube.rollout_timeout_s:g} s ({failure}); {after}")

    def scale(self, replicas: int) -> None:
        def change(dep: Any) -> Any:
            dep.spec.replicas = replicas
            return dep

        api.update(lambda **kw: self.apps.read_namespaced_deployment(self.name, self.ns, **kw), change,
                   lambda body, **kw: self.apps.replace_namespaced_deployment(self.name, self.ns, body, **kw),
                   what=f"scale {self.name} to {replicas}", retry_base_s=self.retry_base_s)

    def wait_rolled_out(self, rev: str, timeout_s: float) -> str | None:
        """None once every replica runs revision ``rev`` and is ready (what ``kubectl rollout status``
        waits for); else, at the timeout or Kubernetes' own progress deadline, what the new pods show."""
        deadline = time.monotonic() + timeout_s
        while True:
            dep = self._call(self.apps.read_namespaced_deployment, self.name, self.ns, what="read the Deployment")
            if rolled_out(dep):
                return None
            if deadline_exceeded(dep) or time.monotonic() > deadline:
                return self._why_not_ready(rev)
            time.sleep(self.poll_s)

    def _why_not_ready(self, rev: str) -> str:
        new = [p for p in self.pods() if (p.metadata.annotations or {}).get(REVISION_ANNOTATION) == rev]
        problems = [pr for pr in (pod_problem(p) for p in new) if pr is not None]
        if not problems:
            return f"{len(new)} new pod(s), none reporting a reason yet"
        return "; ".join(f"pod {p.pod}: {p.reason} ({p.detail})" for p in problems)

    def _set_template(self, template: dict[str, Any], replicas: int | None) -> None:
        def change(dep: Any) -> dict[str, Any]:
            body = self.api_client.sanitize_for_serialization(dep)
            body["spec"]["template"] = copy.deepcopy(template)
            if replicas is not None:
                body["spec"]["replicas"] = replicas
            return body

        api.update(lambda **kw: self.apps.read_namespaced_deployment(self.name, self.ns, **kw), change,
                   lambda body, **kw: self.apps.replace_namespaced_deployment(self.name, self.ns, body, **kw),
                   what=f"update the pod template of {self.name}", retry_base_s=self.retry_base_s)

    def _record(self, new: DeploymentState, rev: str) -> None:
        """Write the routing in force, then drop revisions older than the previous one."""
        body = routing_configmap(new, self.kube)

        def change(cm: Any) -> dict[str, Any]:
            return {**body, "metadata": {**body["metadata"], "resourceVersion": cm.metadata.resource_version}}

        name = body["metadata"]["name"]
        if api.create(self.core.create_namespaced_config_map, self.ns, body, what="record the routing",
                      retry_base_s=self.retry_base_s) is None:
            api.update(lambda **kw: self.core.read_namespaced_config_map(name, self.ns, **kw), change,
                       lambda b, **kw: self.core.replace_namespaced_config_map(name, self.ns, b, **kw),
                       what="record the routing", retry_base_s=self.retry_base_s)
        self._prune_revisions(keep=rev)

    def _prune_revisions(self, keep: str) -> None:
        # Kubernetes keeps old ReplicaSets (revisionHistoryLimit) for `kubectl rollout undo`; the newest older
        # revision stays with them, so one undo still finds its routing.
        cms = self._call(self.core.list_namespaced_config_map, self.ns, label_selector=selector(self.model),
                         what="list routing revisions").items
        revs = sorted((c for c in cms if c.metadata.name.startswith(f"{self.name}-routing-")
                       and c.metadata.name != f"{self.name}-routing-{keep}"),
                      key=lambda c: c.metadata.creation_timestamp.timestamp() if c.metadata.creation_timestamp else 0.0,
                      reverse=True)
        for cm in revs[1:]:
            self._delete_revision(cm.metadata.name.rsplit("-", 1)[-1])

    def _delete_revision(self, rev: str) -> None:
        api.exists(self.core.delete_namespaced_config_map, f"{self.name}-routing-{rev}", self.ns,
                   what="delete a routing revision", retry_base_s=self.retry_base_s)


def rolled_out(dep: Any) -> bool:
    """Every replica is of the current template and ready, and no old replica is left."""
    want, st = dep.spec.replicas or 0, dep.status
    return ((st.observed_generation or 0) >= (dep.metadata.generation or 0) and (st.updated_replicas or 0) == want
            and (st.replicas or 0) == want and (st.ready_replicas or 0) == want
            and (st.available_replicas or 0) == want)


def deadline_exceeded(dep: Any) -> bool:
    return any(c.type == "Progressing" and c.status == "False" and c.reason == "ProgressDeadlineExceeded"
               for c in dep.status.conditions or [])


def _revision_of(dep: Any) -> str | None:
    return (dep.spec.template.metadata.annotations or {}).get(REVISION_ANNOTATION)
