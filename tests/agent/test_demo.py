"""`opsagent demo`, shortened: drift is detected and named, a challenger is trained and gated."""

from __future__ import annotations

import pytest

from agent.demo import Narrator, run_demo
from agent.memory import Memory
from ml_core.paths import HomeLayout
from ml_core.registry import Registry

pytestmark = pytest.mark.slow


class Recorder(Narrator):
    def __init__(self) -> None:
        self.steps: list[str] = []

    def step(self, title: str) -> None:
        self.steps.append(title)


def test_demo_runs_end_to_end(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    narrator = Recorder()
    result = run_demo(layout, narrator, epochs=6, requests=60)
    assert "total_day_minutes" in result.detected
    assert result.report_dir is not None and (result.report_dir / "report.html").exists()
    assert result.retrain_version == "2"
    registry = Registry(layout)
    recalled = Memory(layout.memory_dir).search("drift in day minutes", model="churn", kind="incident")
    assert recalled and "total_day_minutes" in recalled[0].text
    assert registry.lineage("churn", "2")["parent_version"] == "1"
    if result.gate_passed:
        assert result.promoted and result.champion_after == "2"
        assert any(s.startswith("7.") for s in narrator.steps)
    else:
        assert result.champion_after == "1"
