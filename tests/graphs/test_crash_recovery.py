"""After a crash, the cases that need a person or another door: an unsafe resume is interrupted then abandoned;
`opsagent approvals resume` on the command line; `opsagent serve` taking over on start; a crash loop stopped."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from crash_support import OPSAGENT, ROOT, crash_at, filed, made_for
from world import canary_replay, make_ctx

from agent.approvals import ApprovalError
from agent.proposals import Accept
from graphs.runner import GraphRunner
from ml_core.failpoints import ENV

pytestmark = pytest.mark.slow


def test_a_resume_that_would_be_unsafe_is_interrupted_then_abandoned(drift_world):
    """Someone rolled the canary back by hand while the remediation was down: routing it again would undo their
    fix, so the proposal is interrupted, says what ran, cannot be answered again, and can be abandoned."""
    p = filed(drift_world)
    champion = drift_world.backend.status().champion
    crash_at(drift_world, p, "after_canary_routed")
    [version] = made_for(drift_world, p)
    assert drift_world.backend.status().canary == version
    drift_world.backend.rollback()  # a person's manual fix while nothing ran
    ctx = make_ctx(drift_world.layout, canary_traffic=canary_replay(seed=33))
    with GraphRunner(ctx) as runner:
        out = runner.resume(p.id, by="bob", via="test")
        assert out.status == "interrupted", out.outcome
        assert f"v{version} was being routed as the canary when the process stopped" in out.outcome
        record = ctx.approvals.get(p.id)
        assert record.status == "interrupted" and f"opsagent approvals abandon {p.id}" in record.outcome
        with pytest.raises(ApprovalError, match="is interrupted, not pending"):
            runner.answer(p.id, Accept(by="carol", via="test"))
        line = runner.abandon(p.id, by="bob", via="test", reason="rolled back by hand")
    assert "abandoned by bob: rolled back by hand" in line
    assert ctx.approvals.get(p.id).status == "failed"
    assert drift_world.backend.status().champion == champion and drift_world.backend.status().canary is None
    events = [e.event for e in ctx.approvals.history(p.id)]
    assert events[-4:] == ["routing_canary", "resumed", "interrupted", "abandoned"]


def test_approvals_resume_on_the_command_line_finishes_a_stranded_remediation(drift_world):
    p = filed(drift_world)
    crash_at(drift_world, p, "during_watch")
    env = {**os.environ, "OPSAGENT_HOME": str(drift_world.layout.home), "OPSAGENT_CANARY_WATCH_S": "3",
           "OPSAGENT_CANARY_MIN_REQUESTS": "5"}
    env.pop(ENV, None)
    traffic = subprocess.Popen([sys.executable, "-c", (  # live traffic for the CLI's real-time watch
        "import sys, time; sys.path[:0] = ['tests/graphs', '.']\n"
        "from world import canary_replay\n"
        "replay = canary_replay(seed=34, requests=10)\nend = time.time() + 300\n"
        f"while time.time() < end:\n    replay({drift_world.url!r}, 0)\n    time.sleep(0.5)\n")], cwd=ROOT)
    try:
        done = subprocess.run([OPSAGENT, "approvals", "resume", p.id[:10]], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
    finally:
        traffic.kill()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "executed" in done.stdout and "verified: yes" in done.stdout
    [version] = made_for(drift_world, p)
    assert drift_world.backend.status().champion == version
    again = subprocess.run([OPSAGENT, "approvals", "resume", p.id], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 2 and "is executed; there is nothing to resume" in again.stdout + again.stderr


def test_serve_takes_over_a_stranded_remediation_on_start(drift_world):
    from agent.settings import Settings
    from interfaces.serve import build_server

    p = filed(drift_world)
    crash_at(drift_world, p, "after_promote")
    settings = Settings(home=drift_world.layout.home, canary_watch_s=0, canary_min_requests=5, web_token="t")

    def context(_settings, actor, _via):
        return make_ctx(drift_world.layout, actor=actor, canary_traffic=canary_replay(seed=35))

    server = build_server(settings, context_factory=context, with_scheduler=False)
    server.start_background()
    try:
        [job] = [j for j in server.dispatcher.jobs() if j.kind == "recover"]
        job = server.dispatcher.wait(job.id, timeout=600)
    finally:
        server.stop()
    assert job.status == "done" and f"{p.id} resumed" in job.message, job.message
    [version] = made_for(drift_world, p)
    assert drift_world.backend.status().champion == version  # promoted once, before the crash
    [event] = [e for e in server.dispatcher.events() if e.proposal_id == p.id]
    assert event.kind == "remediation" and "resumed after a restart: executed" in event.text
    history = make_ctx(drift_world.layout).approvals.history(p.id)
    resumed = next(e for e in history if e.event == "resumed")
    assert (resumed.actor, resumed.via) == ("opsagent", "serve")
    assert [e.event for e in history][-2:] == ["executed", "verified"]


def test_a_proposal_that_keeps_crashing_is_not_taken_over_again_on_start(drift_world):
    """Three processes have held its lease and died: `serve` marks it interrupted instead of a fourth try."""
    p = filed(drift_world)
    ctx = make_ctx(drift_world.layout)
    ctx.approvals.set_status(p.id, "accepted", actor="alice", via="test")
    ctx.approvals.set_status(p.id, "executing", actor="alice", via="test")
    for pid in (999_991, 999_992, 999_993):  # dead processes on this host
        ctx.approvals.leases.claim(p.id, owner=f"{os.uname().nodename}:{pid}:1")
    assert ctx.approvals.leases.get(p.id).claims == 3
    with GraphRunner(ctx) as runner:
        [found] = runner.recover(via="serve")
    assert found.action == "interrupted" and "stopped 3 times" in found.detail
    assert ctx.approvals.get(p.id).status == "interrupted"
    assert made_for(drift_world, p) == []  # nothing ran
