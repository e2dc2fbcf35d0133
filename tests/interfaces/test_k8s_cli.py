"""`opsagent deploy render|status --backend kubernetes`: manifests printed as YAML, and the backend reached through
a real kubeconfig file (server and context) pointing at the loopback API stand-in."""

from __future__ import annotations

import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from interfaces.cli.common import user_error_types
from interfaces.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml_core"))
from k8s_standin import ApiStandIn  # noqa: E402

runner = CliRunner()


def opsagent(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """The CLI in-process; a user error is exit 2 with its message, as `main()` makes it."""
    result = runner.invoke(app, list(args), env={"OPSAGENT_HOME": str(home), "COLUMNS": "250", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        if isinstance(result.exception, user_error_types()):
            return 2, f"{result.output}error: {result.exception}"
        raise result.exception
    return result.exit_code, result.output


def test_render_prints_valid_manifests_for_the_settings(tmp_path: Path) -> None:
    code, out = opsagent(tmp_path, "deploy", "render", "--backend", "kubernetes", "--model", "credit",
                         "--version", "4", "--namespace", "ml", "--image", "ghcr.io/acme/opsagent:2",
                         env={"OPSAGENT_MLFLOW_TRACKING_URI": "http://mlflow.ml.svc:5000"})
    assert code == 0, out
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["ConfigMap", "ConfigMap", "Service", "Deployment"]
    for doc in docs:
        kubernetes_validate.validate(doc, "1.37.0", strict=True)
        assert doc["metadata"]["namespace"] == "ml"
    container = docs[3]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/acme/opsagent:2" and "credit" in container["args"]
    assert '"champion": "4"' in docs[0]["data"]["state.json"]
    assert "spec.yaml" in docs[0]["data"]  # the model's spec travels with the routing


@pytest.mark.parametrize(("args", "words"), [
    (("--backend", "kubernets"), "--backend: Input should be 'local' or 'kubernetes'"),
    (("--backend", "kubernetes", "--namespace", "Not_A_Label"), "--namespace: String should match pattern"),
    ((), "pass --backend kubernetes"),
])
def test_bad_render_options_are_messages_with_exit_code_2(tmp_path: Path, args: tuple[str, ...],
                                                          words: str) -> None:
    code, out = opsagent(tmp_path, "deploy", "render", "--version", "1", *args)
    assert code == 2 and words in out


def test_status_reaches_the_cluster_of_the_kubeconfig_context(tmp_path: Path) -> None:
    with ApiStandIn() as k8s:
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "elsewhere",
            "clusters": [{"name": "standin", "cluster": {"server": k8s.url}},
                         {"name": "other", "cluster": {"server": "http://127.0.0.1:9"}}],
            "users": [{"name": "me", "user": {"token": "t"}}],
            "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "me", "namespace": "ml"}},
                         {"name": "elsewhere", "context": {"cluster": "other", "user": "me"}}]}))
        code, out = opsagent(tmp_path / "home", "deploy", "status", "--json", "--backend", "kubernetes",
                             "--kubeconfig", str(kubeconfig), "--context", "standin", "--namespace", "ml")
        assert code == 0, out
        assert '"ready_reason": "not started: no Deployment"' in out and '"backend": "kubernetes"' in out
        assert any("/namespaces/ml/deployments/churn-scoring" in p for _, p, _ in k8s.requests)
        code, out = opsagent(tmp_path / "home", "deploy", "status", "--backend", "kubernetes",
                             "--kubeconfig", str(kubeconfig), "--context", "nosuch")
        assert code == 2 and "--context" in out
