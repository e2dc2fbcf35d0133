"""KubernetesBackend through the real ``kubernetes`` client against a loopback API stand-in (k8s_standin):
deploy, canary, promote, rollback, stop/start, and each failure the API or the pods can show."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from k8s_standin import ApiStandIn

from ml_core.deploy.base import DeploymentError
from ml_core.deploy.kubernetes import KubernetesBackend, KubeSpec
from ml_core.deploy.kubernetes.manifests import REVISION_ANNOTATION, STATE_KEY, revision
from ml_core.paths import HomeLayout
from ml_core.registry import CHALLENGER, CHAMPION, Registry
from ml_core.serving.state import DeploymentState

MODEL, V1, V2, UNGATED = "churn", "1", "2", "3"
NAME = "churn-scoring"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A real MLflow registry on SQLite: versions 1 and 2 passed the gate, 3 has no verdict. The backend only
    reads tags and moves aliases, so the versions point at an empty artifact folder (no training needed)."""
    home = HomeLayout(tmp_path_factory.mktemp("k8s") / "home").ensure()
    reg = Registry(home)
    source = Path(tempfile.mkdtemp(dir=home.home))
    for _ in range(3):
        reg.register(MODEL, source.as_uri(), {})
    reg.mark_ready(MODEL, V1)
    reg.mark_ready(MODEL, V2)
    return reg


@pytest.fixture
def k8s():
    with ApiStandIn(ready_after=2) as standin:
        yield standin


def make_backend(registry: Registry, k8s: ApiStandIn, **kube: object) -> KubernetesBackend:
    spec = KubeSpec(**{"rollout_timeout_s": 1, "replicas": 2, **kube})
    return KubernetesBackend(MODEL, registry, spec, host=k8s.url, poll_s=0.01, retry_base_s=0.001)


def in_force(k8s: ApiStandIn) -> DeploymentState:
    cm = k8s.get("configmaps", f"{NAME}-routing")
    assert cm is not None
    return DeploymentState.model_validate_json(cm["data"][STATE_KEY])


def serving_revisions(k8s: ApiStandIn) -> set[str]:
    return {p["metadata"]["annotations"][REVISION_ANNOTATION] for p in k8s.of_kind("pods")}


def test_deploy_canary_promote_rollback(registry: Registry, k8s: ApiStandIn) -> None:
    b = make_backend(registry, k8s)
    s = b.start(V1)
    assert (s.backend, s.running, s.ready, s.champion) == ("kubernetes", True, True, V1)
    assert s.ready_reason == "2/2 replicas ready" and registry.alias(MODEL, CHAMPION).version == V1

    s = b.deploy_canary(V2, 0.2)
    assert (s.champion, s.canary, s.canary_weight) == (V1, V2, 0.2)
    assert registry.alias(MODEL, CHALLENGER).version == V2
    # every pod now runs the revision of the routing in force, and only that one
    assert serving_revisions(k8s) == {revision(in_force(k8s))}
    assert len(k8s.of_kind("pods")) == 2

    s = b.promote()
    assert (s.champion, s.canary, s.previous_champion) == (V2, None, V1)
    assert registry.alias(MODEL, CHAMPION).version == V2 and registry.alias(MODEL, CHALLENGER) is None

    s = b.rollback()
    assert (s.champion, s.previous_champion) == (V1, None) and s.ready
    assert in_force(k8s).champion == V1 and serving_revisions(k8s) == {revision(in_force(k8s))}
    # old revisions are pruned down to the current one and the one before it (for `kubectl rollout undo`)
    revisions = [c for c in k8s.of_kind("configmaps") if c["metadata"]["name"].startswith(f"{NAME}-routing-")]
    assert len(revisions) == 2

    with pytest.raises(DeploymentError, match="nothing to roll back"):
        b.rollback()


def test_routing_changes_only_after_every_new_pod_is_ready(registry: Registry, k8s: ApiStandIn) -> None:
    b = make_backend(registry, k8s)
    b.start(V1)
    seen: list[tuple[int, int]] = []
    handle = k8s.handle

    def watching(method: str, url: str, body: dict | None):  # at each write of the routing in force
        if method == "PUT" and url.endswith(f"/configmaps/{NAME}-routing"):
            rev = revision(DeploymentState.model_validate_json(body["data"][STATE_KEY]))
            pods = k8s.of_kind("pods")
            seen.append((sum(p["metadata"]["annotations"][REVISION_ANNOTATION] == rev and
                             p["status"]["conditions"][0]["status"] == "True" for p in pods), len(pods)))
        return handle(method, url, body)

    k8s.handle = watching  # type: ignore[method-assign]
    b.deploy_canary(V2, 0.5)
    assert seen == [(2, 2)]  # both replicas of the new revision ready, no old pod left


def test_the_gate_refuses_an_unevaluated_version_unless_forced(registry: Registry, k8s: ApiStandIn) -> None:
    b = make_backend(registry, k8s)
    b.start(V1)
    before = k8s.get("deployments", NAME)["metadata"]["resourceVersion"]
    with pytest.raises(DeploymentError, match="evaluation gate has not passed it"):
        b.deploy_canary(UNGATED, 0.1)
    assert k8s.get("deployments", NAME)["metadata"]["resourceVersion"] == before
    s = b.deploy_canary(UNGATED, 0.1, force=True, reason="hotfix")
    assert s.canary == UNGATED and s.override is not None and s.override.reason == "hotfix"
    assert any("without the evaluation gate's pass" in w for w in s.warnings)
    assert [o.version for o in in_force(k8s).overrides] == [UNGATED]


@pytest.mark.parametrize(("fault", "words"), [("image_pull", "image_pull (ImagePullBackOff"),
                                               ("never_ready", "unready (readiness false"),
                                               ("crash_loop", "crash_loop (CrashLoopBackOff")])
def test_a_rollout_whose_pods_never_get_ready_is_undone(registry: Registry, k8s: ApiStandIn, fault: str,
                                                        words: str) -> None:
    b = make_backend(registry, k8s)
    b.start(V1)
    old_revision = serving_revisions(k8s)
    k8s.pod_fault = fault
    with pytest.raises(DeploymentError, match="did not all become ready") as err:
        b.deploy_canary(V2, 0.1)
    assert words in str(err.value) and "routing is unchanged" in str(err.value)
    assert in_force(k8s).canary is None
    k8s.pod_fault = None
    s = b.status()  # the Deployment is back on the old template: the failed pods go, the old ones serve
    assert s.ready and s.canary is None and serving_revisions(k8s) == old_revision
    revisions = {c["metadata"]["name"].rsplit("-", 1)[1] for c in k8s.of_kind("configmaps")
                 if c["metadata"]["name"].startswith(f"{NAME}-routing-")}
    assert revisions == old_revision  # the failed revision's ConfigMap was deleted with the rollout


def test_a_conflict_is_read_again_and_retried(registry: Registry, k8s: ApiStandIn) -> None:
    b = make_backend(registry, k8s)
    b.start(V1)
    k8s.fail_next(409, count=2, method="PUT", path="/deployments/")
    assert b.deploy_canary(V2, 0.3).canary == V2
    assert [c for m, p, c in k8s.requests if m == "PUT" and "/deployments/" in p][:3] == [409, 409, 200]


def test_endless_conflicts_fail_with_routing_unchanged(registry: Registry, k8s: ApiStandIn) -> None:
    b = make_backend(registry, k8s)
    b.start(V1)
    k8s.fail_next(409, count=100, method="PUT", path="/deployments/")
    with pytest.raises(DeploymentError, match="5 conflicts in a row"):
        b.deploy_canary(V2, 0.3)
    assert in_force(k8s).canary is None


def test_server_errors_are_retried_then_reported(registry: Registry, k8s: ApiStandIn) -> None:
    b = make_backend(registry, k8s)
    b.start(V1)
    k8s.fail_next(503, count=2)
    assert b.deploy_canary(V2, 0.3).canary == V2
    k8s.fail_next(500, count=100, method="PUT")
    with pytest.raises(DeploymentError, match="failed 5 times in a row .*HTTP 500"):
        b.promote()
    k8s.failures.clear()
    assert (in_force(k8s).champion, in_force(k8s).canary) == (V1, V2)


def test_stop_scales_to_zero_and_start_brings_the_same_routing_back(registry: Registry, k8s: ApiStandIn) -> None:
    b = make_backend(registry, k8s)
    b.start(V1)
    b.deploy_canary(V2, 0.2)
    s = b.stop()
    assert not s.running and s.ready_reason == "stopped: scaled to 0 replicas" and s.canary == V2
    s = b.start()
    assert s.ready and (s.champion, s.canary) == (V1, V2)


def test_workload_health_names_what_the_pods_show(registry: Registry, k8s: ApiStandIn) -> None:
    b = make_backend(registry, k8s)
    b.start(V1)
    assert b.workload_health().unhealthy is False
    k8s.pod_fault = "oom"
    b.deploy_canary(V2, 0.2)  # OOM-killed once, then ready: the rollout passes, the restart is reported
    health = b.workload_health()
    assert {p.reason for p in health.problems} == {"oom_killed"} and health.restarts == 2
    assert "exit code 137" in health.problems[0].detail
    assert any(e.type == "Warning" and e.reason == "BackOff" for e in health.events)
    k8s.pod_fault = "crash_loop"
    with pytest.raises(DeploymentError):
        b.promote()
    assert b.workload_health().ready == 2  # undone: the crash-looping pods are gone, the old ones ready


def test_workload_health_is_none_when_the_api_is_unreachable(registry: Registry) -> None:
    with ApiStandIn() as gone:
        url = gone.url
    b = KubernetesBackend(MODEL, registry, KubeSpec(), host=url, retry_base_s=0.001)
    assert b.workload_health() is None
    with pytest.raises(DeploymentError, match="failed 5 times in a row"):
        b.status()


def test_status_reports_an_installed_kserve(registry: Registry) -> None:
    with ApiStandIn(kserve=True) as k8s:
        b = make_backend(registry, k8s)
        assert "serving.kserve.io/v1beta1" in b.start(V1).detail
    with ApiStandIn() as k8s:
        assert "kserve" not in make_backend(registry, k8s).start(V1).detail


def test_a_first_start_whose_pods_fail_records_no_routing(registry: Registry, k8s: ApiStandIn) -> None:
    k8s.pod_fault = "image_pull"
    with pytest.raises(DeploymentError, match="left for inspection .*no routing was recorded"):
        make_backend(registry, k8s).start(V1)
    assert k8s.get("configmaps", f"{NAME}-routing") is None
    assert {p.reason for p in make_backend(registry, k8s).workload_health().problems} == {"image_pull"}
