"""Resource lifetimes in a long-running process: each job's context is closed when the job ends, and the
contexts of one process share one registry client and one memory (Step 8, part 5; the soak itself is
``evals/bench_soak.py``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from agent.context import OpsContext, SharedHandles
from agent.settings import Settings
from interfaces.dispatch.dispatcher import Dispatcher
from interfaces.scheduler import TriageScheduler, run_triage_job
from interfaces.scheduler.job import register, unregister


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for var in ("OPSAGENT_LLM_BASE_URL", "OPSAGENT_LLM_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return Settings(home=tmp_path / "home", schedule_timezone="UTC")


def test_a_scheduled_run_closes_the_context_it_was_given(settings: Settings) -> None:
    made: list[OpsContext] = []

    def make_context(_model: str) -> OpsContext:
        ctx = OpsContext(settings, via="scheduler", actor="scheduler")
        ctx.approvals.pending()  # the run's context opened a store, as triage does
        made.append(ctx)
        return ctx

    home = str(settings.layout.home)
    register(home, make_context)
    try:
        record = run_triage_job(home, "ghost")
    finally:
        unregister(home, make_context)
    assert record.status == "failed" and "no registered model 'ghost'" in record.detail
    [ctx] = made
    assert "approvals" not in ctx.__dict__, "the run left its approvals store open"


def test_contexts_of_one_scheduler_share_the_registry_and_memory(settings: Settings) -> None:
    sched = TriageScheduler(settings)
    try:
        first, second = sched.make_context("churn"), sched.make_context("churn")
        assert first is not second and first.registry is second.registry
        assert first.memory is second.memory
        assert first.approvals is not second.approvals  # on each context's own clock
        first.close()
        assert second.registry.models() == []  # closing one context leaves the shared handles usable
    finally:
        sched.shutdown(wait=False)


def test_the_dispatcher_lends_its_handles_to_every_job_context(settings: Settings) -> None:
    dispatcher = Dispatcher(settings)
    try:
        with dispatcher.job_context("alice", "web") as a, dispatcher.job_context("scheduler", "scheduler") as b:
            assert a.shared is b.shared is dispatcher.shared and a.registry is b.registry
    finally:
        dispatcher.shutdown(grace_s=0)


def test_a_context_for_another_home_opens_its_own_handles(settings: Settings, tmp_path: Path) -> None:
    shared = SharedHandles(settings)
    other = OpsContext(Settings(home=tmp_path / "elsewhere"), shared=shared)
    mine = OpsContext(settings, shared=shared)
    assert mine.registry is shared.registry and other.registry is not shared.registry
    assert other.registry.tracking_uri != mine.registry.tracking_uri


def test_shared_handles_open_one_registry_under_concurrent_first_use(settings: Settings) -> None:
    shared = SharedHandles(settings)
    seen: list[object] = []
    start = threading.Barrier(8)

    def grab() -> None:
        start.wait()
        seen.append(shared.registry)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len({id(r) for r in seen}) == 1


def test_the_registry_is_not_held_up_while_the_memory_opens(settings: Settings,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The first scheduled triage of `opsagent serve` opens the memory (the embedding model: tens of seconds on a
    busy machine) at start-up; the web page, which only lists the registry's models, must not wait for it (the
    serve test's /inbox timed out at 30 s behind it)."""
    opening, release = threading.Event(), threading.Event()

    def slow_memory(self: Settings) -> object:
        opening.set()
        release.wait(30)
        return object()

    monkeypatch.setattr(Settings, "open_memory", slow_memory)
    shared = SharedHandles(settings)
    loader = threading.Thread(target=lambda: shared.memory)
    loader.start()
    try:
        assert opening.wait(30)
        got: list[object] = []
        reader = threading.Thread(target=lambda: got.append(shared.registry))
        reader.start()
        reader.join(20)
        assert got, "the registry waited for the memory to open"
    finally:
        release.set()
        loader.join()
