"""The Step 10 scenarios: a scoring process killed during traffic on each data set (infrastructure) and a control
beside each with the process healthy while a model or data fault happens (the model's cause)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.platform_faults import ServiceCrash
from evals.scenario_model import ScenarioFileError, load_dir, load_file


def test_each_data_set_has_a_crash_and_a_healthy_process_control() -> None:
    step10 = {s.name: s for s in load_dir() if s.batch == "step10"}
    crashes = [s for s in step10.values() if s.crash is not None]
    assert {s.model_name for s in crashes} == {"churn", "credit"}
    assert all((s.kind, s.expected.category, s.expected.action) == ("infrastructure", "infrastructure",
                                                                   "investigate_infrastructure") for s in crashes)
    controls = [s for s in step10.values() if s.crash is None]
    assert {s.model_name for s in controls} == {"churn", "credit"}
    assert all(s.expected.detected and s.expected.category not in ("none", "infrastructure") for s in controls)
    assert all(s.traffic_scenario(1).faults == [] for s in crashes)  # the world kills the process, not the traffic


@pytest.mark.parametrize(("share", "requests", "before"), [(0.5, 60, 30), (0.2, 50, 10), (0.01, 10, 1),
                                                           (0.99, 10, 9), (0.5, 2, 1)])
def test_the_kill_leaves_requests_on_both_sides(share: float, requests: int, before: int) -> None:
    assert ServiceCrash(after_share=share).split(requests) == before


def test_a_crash_needs_two_requests_a_tick(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text("name: one\nkind: infrastructure\ntraffic: {requests: 1}\nfaults: [{kind: service_crash}]\n"
                    "expected: {detected: true, category: infrastructure, action: investigate_infrastructure}\n")
    with pytest.raises(ScenarioFileError, match="service_crash needs at least 2 requests"):
        load_file(path)
