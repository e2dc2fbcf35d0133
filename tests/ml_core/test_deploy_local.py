"""LocalBackend end to end: a real detached service process, a real registry, real HTTP."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from test_serving_support import GOOD, GOOD2, MODEL, UNLOADABLE, base_home

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
        backend.deploy_canary(UNLOADABLE, 0.5)
    after = backend.status()
    assert (after.champion, after.canary, after.canary_weight) == (before.champion, None, 0.0) and after.ready
    assert read_state(state_path(home, MODEL)).canary is None
    assert aliases(home)[CHALLENGER] is None
    assert predict_versions(after.url, 20) == {before.champion}


def test_not_ready_for_deploy_tag_is_a_warning(backend: LocalBackend) -> None:
    backend.start(GOOD)
    s = backend.deploy_canary(GOOD2, 0.1)  # GOOD2 is tagged ready; untag it for this check
    assert s.warnings == []
    backend.rollback()
    backend.registry.mark_ready(MODEL, GOOD2, ready=False)
    try:
        s = backend.deploy_canary(GOOD2, 0.1)
        assert s.warnings and "ready_for_deploy" in s.warnings[0]
    finally:
        backend.rollback()
        backend.registry.mark_ready(MODEL, GOOD2)


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
