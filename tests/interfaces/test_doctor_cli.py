"""`opsagent doctor` as a user runs it: which store each component uses, whether it answers, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from ml_core.serving.server import free_port

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")


def doctor(home: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OPSAGENT_") or k == "OPSAGENT_TRACING"}
    full.update({"OPSAGENT_HOME": str(home), **env})
    return subprocess.run([OPSAGENT, "doctor", "--json"], capture_output=True, text=True, env=full, timeout=300)


def by_component(result: subprocess.CompletedProcess) -> dict[str, dict]:
    return {c["component"]: c for c in json.loads(result.stdout)}


def test_a_fresh_home_uses_the_embedded_stores(tmp_path: Path) -> None:
    result = doctor(tmp_path / "home")
    assert result.returncode == 0, result.stderr
    checks = by_component(result)
    assert checks["MLflow tracking + registry"]["kind"] == "SQLite (home)"
    assert checks["memory"]["kind"] == "Chroma embedded"
    assert {c["status"] for c in checks.values()} == {"ok"}
    assert not (tmp_path / "home" / "mlflow.db").exists(), "the doctor only reads: it created MLflow's store"


def test_servers_that_do_not_answer_fail_and_hide_the_password(tmp_path: Path) -> None:
    down = free_port()  # nothing listens on it
    result = doctor(tmp_path / "home", OPSAGENT_CHROMA_URL=f"http://127.0.0.1:{down}",
                    OPSAGENT_MLFLOW_TRACKING_URI=f"postgresql+psycopg://ops:s3cret@127.0.0.1:{down}/mlflow")
    assert result.returncode == 1, result.stderr
    assert "s3cret" not in result.stdout + result.stderr
    checks = by_component(result)
    tracking, memory = checks["MLflow tracking + registry"], checks["memory"]
    assert (tracking["kind"], tracking["status"]) == ("PostgreSQL", "fail")
    assert tracking["where"] == f"postgresql+psycopg://ops:***@127.0.0.1:{down}/mlflow"
    assert (memory["kind"], memory["status"]) == ("Chroma server", "fail")
    # a shared registry whose artifacts would stay in this home: other machines could not load the models
    assert checks["MLflow artifacts"]["status"] == "warn"
    assert "OPSAGENT_MLFLOW_ARTIFACT_ROOT" in checks["MLflow artifacts"]["detail"]


def test_a_bad_chroma_url_is_a_message(tmp_path: Path) -> None:
    result = doctor(tmp_path / "home", OPSAGENT_CHROMA_URL="chroma.internal:8000")
    assert result.returncode == 2
    assert "http://HOST:PORT" in result.stderr and "Traceback" not in result.stderr
