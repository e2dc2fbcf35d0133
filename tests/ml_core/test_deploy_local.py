"""LocalBackend end to end: a real detached service process, a real registry, real HTTP."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from test_serving_support import GOOD, GOOD2, MODEL, SLOW, UNLOADABLE, base_home

from ml_core.deploy import DeploymentError
from ml_core.deploy.local import LocalBackend
from ml_core.paths import HomeLayout
from ml_core.registry import CHALLENGER, CHAMPION, Registry
from ml_core.serving.state import read_state, state_path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> HomeLayout:
    return base_home().copy_to(tmp_path_factory.mktemp("deploy") / "home")


@pytest.fixture(scope="module")
def backend(home: HomeLayout):
    b = LocalBackend(home, MODEL, Registry(home), seed=0, latency_budget_ms=10_000)  # no load-induced fallbacks
    yield b
    b.stop()


def predict_versions(url: str, n: int = 40) -> set[str]:
    recs = base_home().records(1)
    with httpx.Client(base_url=url, timeout=30) as c:
        return {c.post("/predict", json={"records": recs}).json()["predictions"][0]["version"] for _ in range(n)}


def aliases(home: HomeLayout) -> dict[str, str | None]:
    reg = Registry(home)
    return {a: (v.version if (v := reg.alias(MODEL, a)) else None) for a in (CHAMPION, CHALLENGER)}


def test_lifecycle_start_canary_promote_rollback(home: HomeLayout, backend: LocalBackend) -> None:
    s = backend.start(GOOD)
    assert s.running and s.ready and s.champion == GOOD, s
    assert aliases(home) == {CHAMPION: GOOD, CHALLENGER: None}
    assert predict_versions(s.url) == {GOOD}

    s = backend.deploy_canary(GOOD2, 0.5)
    assert s.canary == GOOD2 and s.canary_weight == 0.5 and s.ready and s.warnings == []
    assert aliases(home) == {CHAMPION: GOOD, CHALLENGER: GOOD2}
    assert predict_versions(s.url) == {GOOD, GOOD2}

    s = backend.promote()
    assert (s.champion, s.previous_champion, s.canary, s.canary_weight) == (GOOD2, GOOD, None, 0.0)
    assert aliases(home) == {CHAMPION: GOOD2, CHALLENGER: None}
    assert predict_versions(s.url, 10) == {GOOD2}

    s = backend.rollback()  # no canary: back to the previous champion
    assert (s.champion, s.previous_champion) == (GOOD, None)
    assert aliases(home) == {CHAMPION: GOOD, CHALLENGER: None}
    assert predict_versions(s.url, 10) == {GOOD}

    backend.deploy_canary(GOOD2, 0.2)
    s = backend.rollback()  # with a canary: only the canary goes
    assert (s.champion, s.canary, s.canary_weight) == (GOOD, None, 0.0)
    assert aliases(home)[CHALLENGER] is None
    with pytest.raises(DeploymentError, match="nothing to roll back"):
        backend.rollback()


def test_refuses_unknown_and_unready_versions_without_touching_routing(home: HomeLayout,
                                                                         backend: LocalBackend) -> None:
    before = backend.start(GOOD)
    assert before.ready and before.canary is None
    with pytest.raises(DeploymentError, match="no version 99"):
        backend.deploy_canary("99", 0.1)
    with pytest.raises(DeploymentError, match=f"version {UNLOADABLE} failed readiness"):
        backend.deploy_canary(UNLOADABLE, 0.5, force=True)  # ungated too: forced, so readiness is what refuses
    after = backend.status()
    assert (after.champion, after.canary, after.canary_weight) == (before.champion, None, 0.0) and after.ready
    assert read_state(state_path(home, MODEL)).canary is None
    assert UNLOADABLE not in {o.version for o in after.overrides}  # nothing was routed, so no override stands
    assert aliases(home)[CHALLENGER] is None
    assert predict_versions(after.url, 20) == {before.champion}


def test_a_version_the_gate_failed_is_refused_unless_forced_and_the_override_is_recorded(
        home: HomeLayout, backend: LocalBackend) -> None:
    backend.start(GOOD)
    reg = backend.registry
    reg.mark_ready(MODEL, GOOD2, ready=False)  # GOOD2 is tagged ready; make it a version the gate failed
    reg.set_tag(MODEL, GOOD2, "gate", "failed")
    try:
        for route in (lambda: backend.deploy_canary(GOOD2, 0.1), lambda: backend.deploy_champion(GOOD2)):
            with pytest.raises(DeploymentError) as refused:
                route()
            message = str(refused.value)
            assert f"{MODEL} v{GOOD2}" in message and "gate has not passed it (gate: failed)" in message
            assert "retrain" in message and "force" in message
        s = backend.status()
        assert (s.champion, s.canary) == (GOOD, None) and aliases(home)[CHALLENGER] is None
        assert GOOD2 not in {o.version for o in s.overrides}

        s = backend.deploy_canary(GOOD2, 0.3, force=True, reason="hotfix, gate run pending")
        assert s.canary == GOOD2 and s.override is not None
        assert (s.override.version, s.override.route, s.override.gate, s.override.reason) == (
            GOOD2, "canary", "gate: failed", "hotfix, gate run pending")
        assert len(s.warnings) == 1 and "without the evaluation gate's pass" in s.warnings[0]
        assert predict_versions(s.url) == {GOOD, GOOD2}
        # The deployment's own record: a new backend (another process) sees it in status.
        again = LocalBackend(home, MODEL, Registry(home)).status()
        assert again.overrides_in_force() == [s.override]
        assert read_state(state_path(home, MODEL)).overrides[-1] == s.override

        s = backend.deploy_canary(GOOD2, 0.5)  # a new weight for the routed canary is no new route
        assert s.override is None and s.canary_weight == 0.5 and s.warnings == []
        s = backend.promote()  # checked (forced) when routed: promote stays as it is
        assert s.champion == GOOD2 and [o.version for o in s.overrides_in_force()] == [GOOD2]
        s = backend.rollback()
        assert (s.champion, s.previous_champion) == (GOOD, None)
        assert s.overrides_in_force() == [] and s.overrides[-1].version == GOOD2  # history kept, no longer routed
    finally:
        reg.client.delete_model_version_tag(MODEL, GOOD2, "gate")
        reg.mark_ready(MODEL, GOOD2)


def test_start_refuses_an_ungated_first_champion_and_a_forced_one_is_served(tmp_path) -> None:
    layout = base_home().copy_to(tmp_path / "home")
    b = LocalBackend(layout, MODEL, Registry(layout), seed=0, latency_budget_ms=10_000)
    try:
        with pytest.raises(DeploymentError, match=rf"v{SLOW} as champion: .*injected fault \(1500ms/0\)"):
            b.start(SLOW)
        assert not b.status().running and read_state(state_path(layout, MODEL), MODEL).champion is None
        s = b.start(SLOW, force=True, reason="load test")
        assert s.ready and s.champion == SLOW and s.override is not None and s.override.route == "champion"
        assert [(o.version, o.reason) for o in b.status().overrides_in_force()] == [(SLOW, "load test")]
    finally:
        b.stop()


def test_state_survives_a_new_backend_and_a_dead_process_is_restarted(home: HomeLayout,
                                                                        backend: LocalBackend) -> None:
    pid = backend.start(GOOD).pid  # idempotent: already running when the lifecycle test ran first
    again = LocalBackend(home, MODEL, Registry(home))
    s = again.status()
    assert s.running and s.ready and s.pid == pid and s.champion == GOOD

    s = again.stop()
    assert not s.running and s.pid is None
    assert not again._alive(pid) and not backend._alive(pid)
    assert "not" in backend.status().ready_reason

    s = again.start()  # routing comes back from the state file
    assert s.running and s.ready and s.champion == GOOD and s.pid != pid
    os.killpg(s.pid, 9)  # the process dies behind our back
    fresh = LocalBackend(home, MODEL, Registry(home))
    deadline = time.monotonic() + 10
    while fresh.status().running and time.monotonic() < deadline:
        time.sleep(0.1)
    s = fresh.status()
    assert not s.running and "not running" in s.ready_reason
    s = again.start()
    assert s.running and s.ready


def test_a_port_taken_before_the_service_binds_it_is_never_mistaken_for_ours(tmp_path, monkeypatch) -> None:
    """The chosen port is free when chosen; an impostor binds it while the service imports. The backend must not
    take the impostor's 200 for its own service's readiness (traffic would go to another model's log), and
    starts again on another port."""
    from fastapi import FastAPI

    import ml_core.deploy.local as local
    from ml_core.serving.server import ThreadedServer, free_port

    impostor = FastAPI()
    hits: list[str] = []

    @impostor.get("/ready")
    def ready() -> dict:
        hits.append("ready")
        return {"ready": True, "reason": "", "versions": [GOOD], "pid": 1}

    home = base_home().copy_to(tmp_path / "home")
    with ThreadedServer(impostor) as taken:
        picks = iter([taken.port])
        monkeypatch.setattr(local, "free_port", lambda host: next(picks, None) or free_port(host))
        b = LocalBackend(home, MODEL, Registry(home), seed=0)
        try:
            s = b.start(GOOD)
            assert s.ready and s.running and s.champion == GOOD, s
            assert s.url != taken.url and hits, (s.url, hits)  # asked the impostor, was not fooled by it
            assert predict_versions(s.url, 2) == {GOOD}
        finally:
            b.stop()
