"""An approved retrain proposal with OPSAGENT_TRAIN_BACKEND=kubernetes: the remediation graph trains it as a
PyTorchJob on the loopback API stand-in, whose kubelet runs the pods' fetch and torchrun as real processes
against a real `mlflow server` on loopback (the registry of this world too). The process that accepted it is
killed right after the job was created; the resumed remediation follows that job (one job, one version), gates,
canaries and promotes it. A job the cluster fails (OOMKilled) fails the remediation with the job's reason."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from crash_support import CHILD, ROOT, START, filed, made_for
from world import canary_replay, make_ctx, serve_world

from graphs.runner import GraphRunner
from ml_core.failpoints import ENV

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ml_core"))
from k8s_standin import ApiStandIn  # noqa: E402
from k8s_standin_kubelet import ProcessKubelet  # noqa: E402

from tests.mlflow_server import running_mlflow_server  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def k8s_world(tmp_path_factory, churn_df):
    """churn v1 registered on a loopback MLflow server and served by the local backend, drifted traffic."""
    root = tmp_path_factory.mktemp("k8s-world")
    with running_mlflow_server(root) as url:
        world = serve_world(root / "home", churn_df, tracking_uri=url)
        yield world, url
        world.backend.stop()


def _cluster(monkeypatch, tmp_path: Path, standin: ApiStandIn, tracking_uri: str) -> None:
    """This process's settings (and a child's, which inherits them) name the stand-in and the train backend."""
    kubeconfig = standin.write_kubeconfig(tmp_path / "kubeconfig")
    for key, value in {"TRAIN_BACKEND": "kubernetes", "MLFLOW_TRACKING_URI": tracking_uri,
                       "K8S_KUBECONFIG": str(kubeconfig), "K8S_IMAGE": "opsagent:test", "K8S_TRAIN_CPU": "1",
                       "K8S_TRAIN_MEMORY": "2Gi", "K8S_TRAIN_POLL_S": "0.5", "K8S_TRAIN_TIMEOUT_S": "600"}.items():
        monkeypatch.setenv(f"OPSAGENT_{key}", value)


def test_a_killed_remediation_follows_its_job_on_resume_and_registers_one_version(k8s_world, tmp_path,
                                                                                 monkeypatch):
    world, url = k8s_world
    with ApiStandIn(pytorchjob=True) as standin:
        standin.pytorchjobs.kubelet = ProcessKubelet(tmp_path / "pods", standin.lock, lambda: "2026-01-01T00:00:00Z")
        _cluster(monkeypatch, tmp_path, standin, url)
        p = filed(world, nodes=2)
        before = {v.version for v in world.registry.versions("churn")}
        child = subprocess.run([sys.executable, str(CHILD), str(world.layout.home), p.id], cwd=ROOT,
                               env={**os.environ, ENV: "after_job_submitted"}, capture_output=True, text=True,
                               timeout=600)
        assert child.returncode == -signal.SIGKILL, (child.returncode, child.stdout[-2000:], child.stderr[-3000:])
        [job] = standin.of_kind("pytorchjobs")  # created before the process died
        assert made_for(world, p) == []  # its pods are still training

        ctx = make_ctx(world.layout, canary_traffic=canary_replay(seed=32))
        with GraphRunner(ctx) as runner:
            out = runner.resume(p.id, by="bob", via="test")
        logs = "\n".join(f"--- {f}\n{f.read_text()[-1500:]}" for f in sorted((tmp_path / "pods").glob("*/*.log")))
        assert out.status == "executed" and out.verified, (out.outcome, logs)
        assert [j["metadata"]["name"] for j in standin.of_kind("pytorchjobs")] == [job["metadata"]["name"]]
        posts = [r for r in standin.requests if r[0] == "POST" and r[1].endswith("/pytorchjobs")]
    assert len(posts) == 1  # the resumed remediation created nothing: it followed the job
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1  # nodes=2: a master and a worker
    [version] = made_for(world, p)
    assert {v.version for v in world.registry.versions("churn")} - before == {version}
    assert world.registry.version("churn", version).tags["opsagent.launch"] == job["metadata"]["name"]
    assert (world.backend.status().champion, world.registry.alias("churn", "champion").version) == (version, version)
    events = [e.event for e in ctx.approvals.history(p.id)]
    assert events[:len(START)] == START and "resumed" in events and events[-2:] == ["executed", "verified"]
    [submitted] = [e for e in ctx.approvals.history(p.id) if e.event == "training_job"]  # audited once, first try
    assert submitted.actor == "first-process" and submitted.detail["job"] == job["metadata"]["name"]
    assert (submitted.detail["kind"], submitted.detail["nodes"]) == ("pytorchjob", 2)
    assert any("followed the job submitted before the process stopped" in s for s in out.steps), out.steps


def test_a_job_the_cluster_fails_fails_the_remediation_with_its_reason(k8s_world, tmp_path, monkeypatch):
    world, url = k8s_world
    with ApiStandIn(pytorchjob=True) as standin:
        standin.pytorchjobs.outcome = "oom"  # scripted pods: the last replica OOMKilled
        _cluster(monkeypatch, tmp_path, standin, url)
        p = filed(world)
        before = {v.version for v in world.registry.versions("churn")}
        ctx = make_ctx(world.layout)
        with GraphRunner(ctx) as runner:
            from agent.proposals import Accept

            out = runner.answer(p.id, Accept(by="alice", via="test"))
    assert out.status == "failed", out.outcome
    assert "OOMKilled" in out.outcome and "no version was registered" in out.outcome
    assert {v.version for v in world.registry.versions("churn")} == before and made_for(world, p) == []
    history = ctx.approvals.history(p.id)
    assert history[-1].event == "failed" and "OOMKilled" in str(history[-1].detail), history[-3:]


def test_a_resume_that_would_submit_another_job_for_the_proposal_stops_instead(k8s_world, tmp_path, monkeypatch):
    world, url = k8s_world
    with ApiStandIn(pytorchjob=True) as standin:
        _cluster(monkeypatch, tmp_path, standin, url)
        p = filed(world)
        ctx = make_ctx(world.layout)
        # what an earlier attempt audited before its process died, for rows that have changed since
        ctx.approvals.audit.append("training_job", actor="first-process", via="test", proposal_id=p.id,
                                   detail={"job": "churn-train-0123456789ab", "namespace": "default"})
        with GraphRunner(ctx) as runner:
            from agent.proposals import Accept

            out = runner.answer(p.id, Accept(by="alice", via="test"))
        posts = [r for r in standin.requests if r[0] == "POST"]
    assert out.status == "interrupted", out.outcome
    assert "churn-train-0123456789ab was submitted for this proposal" in out.outcome
    assert "may still be running" in out.outcome
    assert posts == [] and made_for(world, p) == []


@pytest.mark.parametrize("kind", ["pytorchjob", "indexed"])
def test_a_job_that_outlives_the_wait_is_left_running_and_abandoning_the_proposal_deletes_it(
        k8s_world, tmp_path, monkeypatch, kind):
    world, url = k8s_world
    with ApiStandIn(pytorchjob=kind == "pytorchjob") as standin:
        (standin.pytorchjobs if kind == "pytorchjob" else standin.jobs).outcome = "hang"
        _cluster(monkeypatch, tmp_path, standin, url)
        monkeypatch.setenv("OPSAGENT_K8S_TRAIN_TIMEOUT_S", "1")
        p = filed(world)
        ctx = make_ctx(world.layout)
        plural = "pytorchjobs" if kind == "pytorchjob" else "jobs"
        with GraphRunner(ctx) as runner:
            from agent.proposals import Accept

            out = runner.answer(p.id, Accept(by="alice", via="test"))
            running = standin.of_kind(plural)
            services = standin.of_kind("services")
            abandoned = runner.abandon(p.id, by="alice", via="test", reason="the window is stale")
        left = standin.of_kind(plural), [s for s in standin.of_kind("services") if s in services]
    assert out.status == "interrupted", out.outcome
    assert "did not finish within 1 s" in out.outcome and f"opsagent approvals resume {p.id}" in out.outcome
    assert len(running) == 1 and made_for(world, p) == []  # left running, nothing registered yet
    assert len(services) == (1 if kind == "indexed" else 0)  # the Indexed Job's rendezvous Service
    name = running[0]["metadata"]["name"]
    assert f"its training job default/{name} was deleted" in abandoned
    assert left == ([], [])  # the job (and its Service) gone, nothing else following it
    assert ctx.approvals.get(p.id).status == "failed"


def test_abandoning_a_proposal_whose_cluster_cannot_be_reached_still_gives_it_up_and_says_what_to_delete(
        k8s_world, tmp_path, monkeypatch):
    world, url = k8s_world
    with ApiStandIn() as standin:
        _cluster(monkeypatch, tmp_path, standin, url)
    p = filed(world)  # the stand-in is gone: its port answers nothing
    ctx = make_ctx(world.layout)
    ctx.approvals.audit.append("training_job", actor="first-process", via="test", proposal_id=p.id,
                               detail={"job": "churn-train-0123456789ab", "namespace": "default", "kind": "indexed"})
    # as a remediation whose job outlived the wait leaves it (the test above drives that for real)
    for status in ("accepted", "executing", "interrupted"):
        ctx.approvals.set_status(p.id, status, actor="alice", via="test", event=status,
                                 outcome="training job default/churn-train-0123456789ab did not finish within 1 s")
    with GraphRunner(ctx) as runner:
        out = runner.abandon(p.id, by="alice", via="test")
    assert "its training job default/churn-train-0123456789ab could not be deleted" in out
    assert "delete it with kubectl delete job,service churn-train-0123456789ab -n default" in out
    assert ctx.approvals.get(p.id).status == "failed"
