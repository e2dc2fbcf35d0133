"""The CLI as scripts use it, through the installed `opsagent` in subprocesses: `--json` on the read commands
(stdout parses, keys as the types declare them), triage's exit codes, `--version`, and a `--help` that loads
none of the heavy libraries."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest

from agent.approvals import ProposalRecord
from agent.audit import AuditEntry
from agent.incidents import IncidentRecord
from graphs.runner import TriageOutcome
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.deploy.base import DeploymentStatus
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.registry import VersionInfo
from tests.conftest import make_champion_home
from tests.interfaces.inbox_world import InboxWorld

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")
HEAVY = ("torch", "mlflow", "langgraph", "evidently")


def run(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSAGENT_")}
    env.update(OPSAGENT_HOME=str(home), COLUMNS="200")  # no LLM: the offline policy decides
    result = subprocess.run([OPSAGENT, *args], capture_output=True, text=True, env=env, timeout=600)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def run_json(home: Path, *args: str, code: int = 0) -> object:
    result = run(home, *args, "--json")
    assert result.returncode == code, f"opsagent {' '.join(args)} --json: {result.returncode}\n{result.stderr}"
    return json.loads(result.stdout)  # stdout is the JSON and nothing else


def _keys(model: type) -> list[str]:
    """The keys a typed object's JSON has, in declared order: pydantic fields, or dataclass fields."""
    names = getattr(model, "model_fields", None)
    return list(names) if names is not None else [f.name for f in fields(model)]


def _log_drifted_traffic(world: InboxWorld, churn_df, rows: int = 400) -> None:
    """The champion's answers to test customers whose day minutes grew 60 %: drift in one feature."""
    from ml_core.registry import Registry

    frame = split_frame(churn_df, CHURN_SCHEMA).test.head(rows).copy()
    frame["total_day_minutes"] = frame["total_day_minutes"] * 1.6
    model = Registry(world.layout).load("churn", world.champion)
    scores = model.predict_proba(frame)
    now, features = time.time(), CHURN_SCHEMA.feature_names
    with PredictionLog(world.layout.predictions_db("churn")) as log:
        log.write_predictions([
            PredictionRow(f"req-{i}", rec["customer_id"], now - 300 + i * 0.5, "churn", world.champion, "champion",
                          None, None, float(s), int(s >= model.threshold), 20.0, {k: rec[k] for k in features})
            for i, (rec, s) in enumerate(zip(frame.to_dict("records"), scores, strict=True))])


@pytest.fixture(scope="module")
def world(tmp_path_factory, churn_df) -> InboxWorld:
    layout, _registry, job = make_champion_home(tmp_path_factory.mktemp("scripting"), churn_df, epochs=2)
    return InboxWorld(layout=layout, champion=job.version)


def test_version_prints_the_package_metadata(tmp_path):
    from importlib.metadata import version

    result = run(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"opsagent {version('opsagent')}"


def test_help_imports_none_of_the_heavy_libraries(tmp_path):
    probe = ("import sys\nsys.argv = ['opsagent', '--help']\nfrom interfaces.cli.main import main\n"
             "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
             f"print([m for m in {HEAVY!r} if m in sys.modules], code, file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OPSAGENT_HOME": str(tmp_path)})
    assert "Commands" in result.stdout and "triage" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == "[] 0", result.stderr


@pytest.mark.slow
def test_triage_exits_0_when_healthy_1_on_an_incident_unless_told_not_to(world, churn_df):
    home = world.layout.home
    healthy = run_json(home, "triage", "churn", "--window", "30")  # no traffic yet: nothing to find
    assert list(healthy) == _keys(TriageOutcome) and healthy["diagnosis"]["detected"] is False

    _log_drifted_traffic(world, churn_df)
    found = run_json(home, "triage", "churn", "--window", "30", code=1)
    assert found["diagnosis"]["detected"] is True and found["model"] == "churn"
    assert "total_day_minutes" in found["diagnosis"]["culprit"], found["diagnosis"]
    again = run(home, "triage", "churn", "--window", "30", "--no-fail-on-incident")
    assert again.returncode == 0 and "INCIDENT" in again.stdout  # the same incident, found again

    listed = run_json(home, "incidents", "list")
    assert isinstance(listed, list) and [i["id"] for i in listed] == [found["incident_id"]]
    assert list(listed[0]) == _keys(IncidentRecord) and listed[0]["ticks"] >= 2
    shown = run_json(home, "incidents", "show", found["incident_id"])
    assert shown["id"] == found["incident_id"] and shown["culprit"] == listed[0]["culprit"]


@pytest.mark.slow
def test_read_commands_print_their_typed_objects(world):
    home = world.layout.home
    pid = world.file_fix_data()
    records = run_json(home, "approvals", "list")
    assert isinstance(records, list) and pid in [r["proposal"]["id"] for r in records]
    assert list(records[0]) == _keys(ProposalRecord)
    shown = run_json(home, "approvals", "show", pid)
    assert list(shown) == ["record", "audit"] and shown["record"]["proposal"]["kind"] == "fix_data"
    assert shown["record"]["status"] == "pending" and shown["audit"][0]["event"] == "proposed"
    assert list(shown["audit"][0]) == _keys(AuditEntry)

    versions = run_json(home, "registry", "list", "churn")
    assert [v["version"] for v in versions] == [world.champion] and list(versions[0]) == _keys(VersionInfo)
    assert versions[0]["aliases"] == ["champion"] and versions[0]["tags"]["ready_for_deploy"] == "true"
    assert run_json(home, "registry", "show", "champion") == versions[0]

    status = run_json(home, "deploy", "status")
    assert list(status) == _keys(DeploymentStatus)
    assert status["model"] == "churn" and status["running"] is False and status["ready"] is False

    assert run_json(home, "schedule", "list") == []
    assert run(home, "schedule", "add", "churn", "--every", "15").returncode == 0
    [entry] = run_json(home, "schedule", "list")
    assert list(entry) == ["model", "trigger", "next_run", "last"] and entry["model"] == "churn"
    assert entry["last"] is None and entry["next_run"] is not None

    models = {m["name"]: m for m in run_json(home, "models", "list")}
    assert list(models["churn"]) == ["name", "champion", "spec", "error"]
    assert models["churn"]["champion"] == world.champion and models["churn"]["error"] is None
    spec = run_json(home, "models", "show", "churn")
    assert spec == models["churn"]["spec"] and spec["name"] == "churn"


def test_json_errors_are_messages_on_stderr_with_exit_2(world, tmp_path):
    result = run(world.layout.home, "triage", "nosuchmodel", "--json")
    assert result.returncode == 2 and result.stdout == ""
    assert "no registered model 'nosuchmodel'" in " ".join(result.stderr.split())
    empty = tmp_path / "no-scenarios"
    empty.mkdir()
    result = run(world.layout.home, "eval", "--scenarios", str(empty), "--json")
    assert result.returncode == 2 and result.stdout == "" and "error" in result.stderr
