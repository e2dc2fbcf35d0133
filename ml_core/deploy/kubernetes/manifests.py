"""The Kubernetes objects that serve one model, as plain dicts (what ``kubectl apply`` and the API take).

Per model: a Deployment running the scoring service (``python -m ml_core.serving``), a ClusterIP Service in
front of it, and its routing (champion, canary, weight, previous champion: ``DeploymentState``, the fields the
local backend keeps in its state file) in ConfigMaps:

- ``<name>-routing`` holds the routing in force: what ``status`` reports and an operator reads;
- ``<name>-routing-<hash>`` is one immutable revision of it, mounted by the pod template as the service's state
  file. A routing change creates a new revision and points the pod template at it, which is a rolling update:
  new pods read the new routing on start while the old ones keep serving the old, and the routing in force is
  rewritten only once every new pod is ready. (The same content-hash naming as kustomize's configMapGenerator:
  a pod never sees its routing change under it, and the kubelet cannot hand a new pod a stale cached copy.)

Pure functions: nothing here talks to a cluster, so ``opsagent deploy render`` and the offline schema tests
see exactly what the backend sends.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from ml_core.serving.state import DeploymentState

Manifest = dict[str, Any]
PORT = 8080
HOME = "/var/lib/opsagent"          # an emptyDir: the admin token, the model cache, the prediction log
ROUTING_DIR = "/etc/opsagent/routing"
STATE_KEY = "state.json"
SPEC_KEY = "spec.yaml"              # a model's own spec (built-in ones ship in the image)
REVISION_ANNOTATION = "opsagent.io/routing-revision"
MODEL_LABEL = "opsagent.io/model"
APP_LABEL = "app.kubernetes.io/name"
APP = "opsagent-scoring"


class KubeSpec(BaseModel):
    """How a model's scoring service runs on the cluster (from settings; the CLI's flags override them)."""

    model_config = ConfigDict(frozen=True)

    namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    image: str = Field(default="opsagent:latest", min_length=1, description="the image the Dockerfile builds")
    replicas: int = Field(default=2, ge=1, le=100, description="two, so a rolling update never drops to none")
    cpu: str = Field(default="500m", description="CPU request (one scoring process uses about one core at most)")
    memory: str = Field(default="1Gi", description="memory request and limit")
    tracking_uri: str | None = Field(default=None, description="MLflow tracking/registry URI the pods load "
                                     "versions from; it must be reachable from the cluster")
    rollout_timeout_s: int = Field(default=300, ge=1, description="a rolling update not done by then fails")
    env_secret: str | None = Field(default=None, description="a Secret whose keys become the pods' environment "
                                   "(OPSAGENT_DATABASE_URL, a tracking URI with a password): never in the manifest")


def resource_name(model: str) -> str:
    """A DNS-1123 name for the model's objects: spec names may hold '_', Kubernetes names may not."""
    name = re.sub(r"[^a-z0-9-]", "-", model.lower()).strip("-")[:40] or "model"
    return f"{name}-scoring"


def labels(model: str) -> dict[str, str]:
    return {APP_LABEL: APP, "app.kubernetes.io/instance": resource_name(model), MODEL_LABEL: model}


def selector(model: str) -> str:
    """The label selector of the model's pods (``kubectl get pods -l ...``)."""
    return ",".join(f"{k}={v}" for k, v in labels(model).items())


def routing_json(state: DeploymentState) -> str:
    """What the service reads as its state file: the routing and the gate overrides, nothing local."""
    return state.model_dump_json(indent=2, exclude={"pid", "port", "host"})


def revision(state: DeploymentState, spec_yaml: str | None = None) -> str:
    """A short content hash of the routing and spec (ten hex digits: a clash among one model's revisions has
    odds of about 2^-40)."""
    return hashlib.sha256((routing_json(state) + (spec_yaml or "")).encode()).hexdigest()[:10]


def routing_configmap(state: DeploymentState, kube: KubeSpec, *, rev: str | None = None,
                      spec_yaml: str | None = None) -> Manifest:
    """The routing in force (``rev=None``) or its immutable revision ``rev`` (with the spec, if given)."""
    name = f"{resource_name(state.model)}-routing" + (f"-{rev}" if rev else "")
    cm: Manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": name, "namespace": kube.namespace, "labels": labels(state.model)},
                    "data": {STATE_KEY: routing_json(state)}}
    if rev:
        cm["metadata"]["annotations"] = {REVISION_ANNOTATION: rev}
        cm["immutable"] = True
        if spec_yaml:
            cm["data"][SPEC_KEY] = spec_yaml
    return cm


def _container(model: str, kube: KubeSpec, with_spec: bool) -> Manifest:
    env = [{"name": "OPSAGENT_HOME", "value": HOME}, {"name": "OPSAGENT_MODEL_NAME", "value": model}]
    if kube.tracking_uri:
        env.append({"name": "OPSAGENT_MLFLOW_TRACKING_URI", "value": kube.tracking_uri})
    probe = {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 5, "failureThreshold": 2}
    return {
        "name": "scoring", "image": kube.image, "imagePullPolicy": "IfNotPresent",
        "args": ["python", "-m", "ml_core.serving", "--home", HOME, "--model", model, "--host", "0.0.0.0",
                 "--port", str(PORT), "--state", f"{ROUTING_DIR}/{STATE_KEY}"],
        "ports": [{"name": "http", "containerPort": PORT}],
        "env": env,
        **({"envFrom": [{"secretRef": {"name": kube.env_secret}}]} if kube.env_secret else {}),
        # /ready is 200 only once every routed version is loaded and smoke-tested: the Service sends a pod
        # traffic only then. Two failures 5 s apart take a pod out within 10 s.
        "readinessProbe": probe,
        # /health answers as soon as the process serves HTTP; loading a model can take a minute, so the
        # startup probe allows 5 minutes (60 x 5 s) before liveness may restart a pod that never answers.
        "startupProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 5,
                         "failureThreshold": 60},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10,
                          "failureThreshold": 3},
        # Memory limit = request: the pod is never OOM-killed for using what it asked for, and never evicted
        # for using more than it asked; no CPU limit, as CFS throttling shows up as latency spikes.
        "resources": {"requests": {"cpu": kube.cpu, "memory": kube.memory}, "limits": {"memory": kube.memory}},
        "volumeMounts": [{"name": "routing", "mountPath": ROUTING_DIR, "readOnly": True},
                         {"name": "home", "mountPath": HOME}] + ([
            {"name": "routing", "mountPath": f"{HOME}/models/{model}.yaml", "subPath": SPEC_KEY, "readOnly": True}]
            if with_spec else []),
    }


def deployment(state: DeploymentState, kube: KubeSpec, *, replicas: int | None = None,
               spec_yaml: str | None = None) -> Manifest:
    """The scoring service's Deployment, its pods reading the routing revision of ``state``."""
    model, rev = state.model, revision(state, spec_yaml)
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": resource_name(model), "namespace": kube.namespace, "labels": labels(model)},
        "spec": {
            "replicas": kube.replicas if replicas is None else replicas,
            "selector": {"matchLabels": labels(model)},
            # Surge one new pod at a time and never take an old one away before a new one is ready: the
            # local backend's rule (no traffic to a version that has not passed readiness) on a cluster.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "progressDeadlineSeconds": kube.rollout_timeout_s,
            "revisionHistoryLimit": 3,
            "template": {
                "metadata": {"labels": labels(model), "annotations": {REVISION_ANNOTATION: rev}},
                "spec": {"containers": [_container(model, kube, bool(spec_yaml))],
                         "volumes": [{"name": "routing", "configMap": {
                             "name": f"{resource_name(model)}-routing-{rev}"}},
                                     {"name": "home", "emptyDir": {}}]},
            },
        },
    }


def service(model: str, kube: KubeSpec) -> Manifest:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": resource_name(model), "namespace": kube.namespace, "labels": labels(model)},
            "spec": {"type": "ClusterIP", "selector": labels(model),
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def render(state: DeploymentState, kube: KubeSpec, spec_yaml: str | None = None) -> list[Manifest]:
    """Every object the backend creates for ``state``, in the order it applies them."""
    rev = revision(state, spec_yaml)
    return [routing_configmap(state, kube, rev=rev, spec_yaml=spec_yaml), routing_configmap(state, kube),
            service(state.model, kube), deployment(state, kube, spec_yaml=spec_yaml)]


def to_yaml(manifests: list[Manifest]) -> str:
    """A multi-document YAML stream (``kubectl apply -f -`` reads it)."""
    return yaml.safe_dump_all(manifests, sort_keys=False, default_flow_style=False)
