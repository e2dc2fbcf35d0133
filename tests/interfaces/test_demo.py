"""`opsagent demo`, shortened: triage detects and names the drift, files a proposal that is approved,
remediation retrains, gates and (when the gate passes) canaries and promotes; the outcome is remembered."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.memory import Memory
from agent.settings import Settings
from interfaces.demo.narrator import Narrator
from interfaces.demo.story import run_demo
from ml_core.paths import HomeLayout
from ml_core.registry import Registry

pytestmark = pytest.mark.slow


class Recorder(Narrator):
    def __init__(self) -> None:
        self.steps: list[str] = []
        self.lines: list[str] = []

    def step(self, title: str) -> None:
        self.steps.append(title)

    def info(self, message: str) -> None:
        self.lines.append(message)


def test_demo_runs_end_to_end(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    narrator = Recorder()
    settings = Settings(home=layout.home, canary_min_requests=5)
    result = run_demo(layout, narrator, epochs=6, requests=60, settings=settings)
    assert "total_day_minutes" in result.detected
    assert result.brain == "offline policy" and result.proposal_id and result.incident_id
    assert result.postmortem and "total_day_minutes" in Path(result.postmortem).read_text()
    assert result.decision.startswith("accept")
    assert result.retrain_version == "2"
    registry = Registry(layout)
    assert registry.lineage("churn", "2")["parent_version"] == "1"
    memory = Memory(layout.memory_dir)
    incident = memory.search("drift in day minutes", model="churn", kind="incident")
    assert incident and incident[0].id == result.incident_id
    outcome = memory.search("retrain outcome", model="churn", kind="outcome")
    assert outcome and result.proposal_id in outcome[0].text
    if result.gate_passed and result.promoted:
        assert result.champion_after == "2" and result.seconds_drift_to_promoted
    else:
        assert result.champion_after == "1"
    assert any("quiet" in line for line in narrator.lines)  # the ordinary-traffic triage found nothing
