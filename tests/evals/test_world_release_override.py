"""A scenario's release reaches traffic past the deploy gate only as an audited override.

No gate judged a benchmark release (a faulty copy of the champion, or an identical one), so the world ships it as
a person forcing it out would: ``force=True``, recorded with the deployment, ``deploy_override`` in the world's
audit log. A real served world: a one-epoch template, the local backend, no traffic needed.
"""

from __future__ import annotations

import pytest

from agent.audit import DEPLOY_OVERRIDE, AuditLog
from evals.scenario_faults import HealthyRelease
from evals.scenario_model import EvalScenario, Expected
from evals.world import RELEASER, World, build_template
from ml_core.simulator.scenario import SlowRelease
from ml_core.spec.builtin import builtin_spec

pytestmark = pytest.mark.slow


def _scenario(name: str, release: SlowRelease | HealthyRelease) -> EvalScenario:
    return EvalScenario(name=name, kind="control", faults=[release], expected=Expected(detected=False))


def test_the_world_forces_its_releases_and_audits_each_override(tmp_path) -> None:
    template = build_template(tmp_path / "template", builtin_spec("churn"), epochs=1)
    with World(_scenario("slow", SlowRelease(latency_ms=400, canary_weight=0.5)), template,
               tmp_path / "world") as world:
        slow = world.ship_release()
        status = world.backend.status()
        assert status.canary == slow and [o.version for o in status.overrides_in_force()] == [slow]
        assert "scenario slow" in status.overrides[-1].reason and "injected fault" in status.overrides[-1].gate
        world.backend.rollback()

        world.scenario = _scenario("healthy", HealthyRelease(canary_weight=0.5))
        healthy = world.ship_release()
        assert world.backend.status().canary == healthy != slow
        with AuditLog(world.layout.approvals_db) as log:
            forced = [e for e in log.entries() if e.event == DEPLOY_OVERRIDE]
    assert [(e.detail["version"], e.detail["route"], e.actor, e.via) for e in forced] == [
        (slow, "canary", RELEASER, "cli"), (healthy, "canary", RELEASER, "cli")]
    assert all(e.detail["model"] == "churn" and "scenario" in e.detail["reason"] for e in forced)
