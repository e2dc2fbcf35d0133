"""`opsagent models adopt` as a user runs it (a real subprocess): a scikit-learn model from another MLflow store
becomes a version of an opsagent model; bad input is a message and exit code 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ml_core.paths import HomeLayout
from ml_core.registry import Registry
from tests.ml_core.adopt_support import ID, LABEL, POSITIVE, OtherStore, other_store

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")
ADOPT = ["models", "adopt"]


def adopt(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPSAGENT_HOME": str(home)}
    return subprocess.run([OPSAGENT, *ADOPT, *args], capture_output=True, text=True, env=env, timeout=300)


def flat(text: str) -> str:
    """Output with the console's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def other() -> OtherStore:
    return other_store()


def test_adopt_infers_the_spec_then_adds_versions_under_it(tmp_path: Path, other: OtherStore) -> None:
    first = adopt(["credit-risk", "--model-uri", other.logistic_uri, "--tracking-uri", other.tracking_uri,
                   "--data", str(other.csv), "--label", LABEL, "--positive", POSITIVE, "--id", ID], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "credit-risk v1" in flat(first.stdout) and "F1-tuned on 4454 rows" in flat(first.stdout)
    spec = yaml.safe_load((tmp_path / "models" / "credit-risk.yaml").read_text())
    assert (spec["source"], spec["trainable"], spec["label"]["positive"], spec["id_column"]) == (
        "adopted", False, POSITIVE, ID)

    second = adopt(["credit-risk", "--model-uri", other.boosted_uri, "--tracking-uri", other.tracking_uri,
                    "--trainable"], tmp_path)
    assert second.returncode == 0, second.stderr
    assert "credit-risk v2" in flat(second.stdout) and "threshold 0.50 (the default" in flat(second.stdout)
    assert yaml.safe_load((tmp_path / "models" / "credit-risk.yaml").read_text())["trainable"] is True
    versions = Registry(HomeLayout(tmp_path)).versions("credit-risk")
    assert [(v.version, v.tags["opsagent.kind"], v.tags["source_uri"]) for v in versions] == [
        ("1", "adopted", other.logistic_uri), ("2", "adopted", other.boosted_uri)]


@pytest.mark.parametrize("case, message", [
    ("unknown-uri", "cannot read model 'models:/no-such-model/1'"),
    ("labels-model", "class labels, not probabilities"),
    ("no-spec-no-label", "there is no spec for model 'credit-risk'"),
    ("spec-with-other-label", "already has a spec whose label is 'Status', not 'Outcome'"),
])
def test_bad_input_is_a_message_and_exit_2(tmp_path: Path, other: OtherStore, case: str, message: str) -> None:
    store = ["--tracking-uri", other.tracking_uri]
    data = ["--data", str(other.csv), "--label", LABEL, "--positive", POSITIVE, "--id", ID]
    args = {
        "unknown-uri": ["credit-risk", "--model-uri", "models:/no-such-model/1", *store, *data],
        "labels-model": ["credit-risk", "--model-uri", other.labels_uri, *store, *data],
        "no-spec-no-label": ["credit-risk", "--model-uri", other.logistic_uri, *store],
        "spec-with-other-label": ["credit", "--model-uri", other.logistic_uri, *store, "--label", "Outcome"],
    }[case]
    result = adopt(args, tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in flat(result.stderr), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "models" / "credit-risk.yaml").exists()  # a failed adoption leaves no spec behind


def test_help_shows_an_example(tmp_path: Path) -> None:
    result = adopt(["--help"], tmp_path)
    assert result.returncode == 0 and "Example: opsagent models adopt" in flat(result.stdout)
