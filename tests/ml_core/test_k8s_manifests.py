"""The rendered manifests, validated offline against Kubernetes' own OpenAPI schemas (kubernetes-validate)."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml

from ml_core.deploy.kubernetes.manifests import (
    HOME,
    REVISION_ANNOTATION,
    STATE_KEY,
    KubeSpec,
    labels,
    render,
    revision,
    to_yaml,
)
from ml_core.serving.state import DeploymentState, GateOverride

# The oldest minor version still in upstream or major managed-service support at the time of writing (1.30, on
# extended support at the big clouds) and the newest the pinned schemas hold (1.37, the client's own version).
K8S_VERSIONS = ("1.30.0", "1.37.0")
KUBE = KubeSpec(namespace="ml", image="ghcr.io/acme/opsagent:1.0", replicas=3,
                tracking_uri="http://mlflow.ml.svc:5000", env_secret="opsagent-env")
STATES = {
    "first champion": DeploymentState(model="churn", champion="1"),
    "canary with an override": DeploymentState(
        model="churn", champion="1", canary="2", canary_weight=0.25, previous_champion="0",
        overrides=[GateOverride(version="2", route="canary", gate="gate: failed", reason="hotfix")]),
    "a spec name Kubernetes names refuse": DeploymentState(model="credit_risk_v2", champion="7"),
}


@pytest.mark.parametrize("k8s_version", K8S_VERSIONS)
@pytest.mark.parametrize("case", list(STATES))
@pytest.mark.parametrize("spec_yaml", [None, "name: churn\n"])
def test_every_manifest_validates_against_the_kubernetes_schemas(k8s_version: str, case: str,
                                                                 spec_yaml: str | None) -> None:
    manifests = render(STATES[case], KUBE, spec_yaml)
    assert [m["kind"] for m in manifests] == ["ConfigMap", "ConfigMap", "Service", "Deployment"]
    for manifest in manifests:
        # strict: an unknown or misspelt field fails too, not only a wrong type
        kubernetes_validate.validate(manifest, k8s_version, strict=True)


def test_an_invalid_manifest_is_caught_by_the_validator() -> None:
    """The check above can fail: a misspelt probe field is refused."""
    deployment = render(STATES["first champion"], KUBE)[3]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


def test_the_pods_mount_the_routing_revision_and_probe_the_service() -> None:
    state = STATES["canary with an override"]
    rev_cm, in_force, svc, dep = render(state, KUBE, "name: churn\n")
    rev = revision(state, "name: churn\n")
    pod = dep["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert pod["metadata"]["annotations"][REVISION_ANNOTATION] == rev
    assert rev_cm["metadata"]["name"] == f"churn-scoring-routing-{rev}" and rev_cm["immutable"] is True
    assert {"name": "routing", "configMap": {"name": rev_cm["metadata"]["name"]}} in pod["spec"]["volumes"]
    assert container["args"][-2:] == ["--state", f"/etc/opsagent/routing/{STATE_KEY}"]
    # the state file the service reads is the routing, overrides included, and nothing of the local process
    served = DeploymentState.model_validate_json(rev_cm["data"][STATE_KEY])
    assert served.model_dump(exclude={"pid", "port", "host"}) == state.model_dump(exclude={"pid", "port", "host"})
    assert "pid" not in json.loads(rev_cm["data"][STATE_KEY])
    assert in_force["data"][STATE_KEY] == rev_cm["data"][STATE_KEY] and "immutable" not in in_force
    assert {"name": "routing", "mountPath": f"{HOME}/models/churn.yaml", "subPath": "spec.yaml",
            "readOnly": True} in container["volumeMounts"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["OPSAGENT_MLFLOW_TRACKING_URI"] == "http://mlflow.ml.svc:5000" and env["OPSAGENT_MODEL_NAME"] == "churn"
    assert container["envFrom"] == [{"secretRef": {"name": "opsagent-env"}}]
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert dep["spec"]["replicas"] == 3 and container["image"] == "ghcr.io/acme/opsagent:1.0"
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"] == pod["metadata"]["labels"]


def test_a_routing_change_is_a_new_revision_and_a_new_pod_template() -> None:
    one = STATES["first champion"]
    two = one.model_copy(update={"canary": "2", "canary_weight": 0.1})
    dep_one, dep_two = render(one, KUBE)[3], render(two, KUBE)[3]
    assert revision(one) != revision(two)
    assert dep_one["spec"]["template"] != dep_two["spec"]["template"]  # so Kubernetes rolls the pods
    assert render(one, KUBE) == render(one, KUBE)  # and an unchanged routing is no rollout


def test_names_are_dns_labels_and_the_model_label_keeps_the_spec_name() -> None:
    dep = render(STATES["a spec name Kubernetes names refuse"], KUBE)[3]
    assert dep["metadata"]["name"] == "credit-risk-v2-scoring"
    assert labels("credit_risk_v2")["opsagent.io/model"] == "credit_risk_v2"


def test_yaml_is_one_document_per_object() -> None:
    manifests = render(STATES["first champion"], KUBE)
    assert list(yaml.safe_load_all(to_yaml(manifests))) == manifests
