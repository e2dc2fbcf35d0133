"""Shared fixtures: the churn table (loaded once) and an empty opsagent home in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ml_core.data.churn import load_churn
from ml_core.paths import HomeLayout


@pytest.fixture(scope="session")
def churn_df() -> pd.DataFrame:
    """All 5,000 validated customers. Shared across the session: copy before mutating."""
    return load_churn()


@pytest.fixture
def layout(tmp_path: Path) -> HomeLayout:
    """A fresh home (MLflow on SQLite, prediction logs, reports) under tmp_path."""
    return HomeLayout(tmp_path / "home").ensure()
