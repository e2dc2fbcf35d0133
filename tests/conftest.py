"""Shared fixtures: the churn table (loaded once) and an empty opsagent home in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.paths import HomeLayout

# Tracing is on by default for users; the suite runs a few thousand graph runs, each of whose traces MLflow would
# write span by span in the background (about a second of CPU a triage on this machine). Tracing itself is tested
# in tests/graphs/test_tracing.py, which turns it back on. Set before any Settings is built; subprocesses inherit.
os.environ.setdefault("OPSAGENT_TRACING", "off")
# One intra-op thread for torch (here and in every subprocess): the suite runs two workers, each with scoring
# services, serves and CLI subprocesses, on two cores; OpenMP threads then spin against each other. Measured on a
# loaded machine: scoring a 4,410-row table ten times took 3.07 s CPU / 13.3 s wall with torch's default two
# threads, 0.58 s / 2.5 s with one. The models are small MLPs: a second thread buys little even when idle.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


@pytest.fixture(scope="session")
def churn_df() -> pd.DataFrame:
    """All 5,000 validated customers. Shared across the session: copy before mutating."""
    return load_churn()


@pytest.fixture
def layout(tmp_path: Path) -> HomeLayout:
    """A fresh home (MLflow on SQLite, prediction logs, reports) under tmp_path."""
    return HomeLayout(tmp_path / "home").ensure()


def make_champion_home(root: Path, data: pd.DataFrame, epochs: int = 3, tracking_uri: str | None = None):
    """A home whose registry holds one trained churn version aliased champion and ready to deploy (MLflow on
    SQLite, or at ``tracking_uri``)."""
    from ml_core.jobs import train_and_register
    from ml_core.registry import CHAMPION, Registry
    from ml_core.training import TrainConfig

    layout = HomeLayout(root).ensure()
    registry = Registry(layout, tracking_uri)
    job = train_and_register(registry, data, TrainConfig(epochs=epochs, exclude_columns=("state",)), model_name="churn",
                             schema=CHURN_SCHEMA, with_baseline=False)
    registry.set_alias("churn", CHAMPION, job.version)
    # What `opsagent train` records for a first version: the gate passes it, as there is no champion to beat
    # (ml_core.gate.gate), so the deploy backend routes it without --force.
    registry.mark_ready("churn", job.version)
    return layout, registry, job


@pytest.fixture(scope="module")
def champion_home(tmp_path_factory, churn_df):
    """Module-scoped: (layout, registry, job) with churn v1 as champion."""
    return make_champion_home(tmp_path_factory.mktemp("home"), churn_df, epochs=6)


# ---- PostgreSQL (tests/pg_support.py): one server per test session (per xdist worker), a database per test ----
@pytest.fixture(scope="session")
def pg_server():
    from tests.pg_support import start_server, why_not

    reason = why_not()
    if reason:
        pytest.skip(reason)
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty PostgreSQL database (its SQLAlchemy URL, psycopg 3)."""
    return pg_server.new_database()


@pytest.fixture(scope="session")
def pg_store_db(pg_server) -> str:
    """One database for the store tests of a session; each test's stores get schemas of their own in it."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request, tmp_path):
    """Where a store test's database is: a SQLite file under tmp_path, or on PostgreSQL a schema per file as
    ``HomeLayout.store`` makes them (new for each test, so tests never see each other's rows; creating a
    schema costs milliseconds, a database a second). Call it with the file's name."""
    if request.param == "sqlite":
        return lambda name: tmp_path / name
    import uuid

    from ml_core.store_engine import in_schema

    url, test = request.getfixturevalue("pg_store_db"), uuid.uuid4().hex[:8]
    return lambda name: in_schema(url, f"{name.removesuffix('.db')}_{test}")
