"""`opsagent train --model credit`: a model other than the demo's, trained end to end from the CLI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ml_core.baseline import SimpleBaseline
from ml_core.paths import HomeLayout
from ml_core.registry import CHALLENGER, CHAMPION, Registry

OPSAGENT = shutil.which("opsagent") or str(Path(sys.executable).parent / "opsagent")


@pytest.mark.slow
def test_train_credit_registers_a_champion_with_its_fallback(tmp_path):
    env = {**os.environ, "OPSAGENT_HOME": str(tmp_path)}
    result = subprocess.run([OPSAGENT, "train", "--model", "credit", "--epochs", "3", "--device", "cpu"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())  # rich wraps long lines
    auc = re.search(r"auc │ (0\.\d{4}) │ (0\.\d{4})", out)
    assert auc, out  # the model's test AUC beside the gradient-boosting baseline's
    assert float(auc.group(1)) > 0.75 and float(auc.group(2)) > 0.75
    assert "gate passed (no champion yet)" in out and "alias: champion" in out
    registry = Registry(HomeLayout(tmp_path))
    champion = registry.alias("credit", CHAMPION)
    assert champion is not None and champion.version == "1"
    assert registry.alias("credit", CHALLENGER) is None  # the first version is the champion, not both
    assert registry.lineage("credit", "1")["data_fingerprint"]
    fallback = SimpleBaseline.load(HomeLayout(tmp_path).deploy_dir / "credit.baseline")
    assert "Income" in fallback.features and fallback.feature_set == "plain"
