"""MLflow for a team: the registry on a real PostgreSQL with a shared artifact root, and a scoring service on
another home that loads its versions from there (the tracking URI reaches the service's process)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from agent.settings import Settings
from agent.store_check import check_stores
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.deploy.local import LocalBackend
from ml_core.jobs import train_and_register
from ml_core.paths import HomeLayout
from ml_core.registry import EXPERIMENT, Registry, artifact_location
from ml_core.training import TrainConfig
from tests.team_servers import create_database, postgres_server


def test_artifact_location_follows_the_store(tmp_path: Path) -> None:
    layout = HomeLayout(tmp_path / "home")
    home_artifacts = layout.mlflow_artifacts.as_uri()
    assert artifact_location(layout, layout.tracking_uri) == home_artifacts
    # MLflow's own default for a database it opens is ./mlruns under the process's directory: keep the home's
    assert artifact_location(layout, "postgresql+psycopg://u@db/mlflow") == home_artifacts
    assert artifact_location(layout, "http://mlflow:5000") is None  # the server's --default-artifact-root
    assert artifact_location(layout, "https://mlflow.example", "s3://bucket/ml") == "s3://bucket/ml"
    assert artifact_location(layout, "http://mlflow:5000", "mlflow-artifacts:/team") == "mlflow-artifacts:/team"
    assert artifact_location(layout, "sqlite:///x.db", str(tmp_path / "shared")) == (tmp_path / "shared").as_uri()


@pytest.fixture(scope="module")
def mlflow_on_postgres():
    with postgres_server() as base:
        yield create_database(base, "mlflow")


@pytest.mark.slow  # a PostgreSQL cluster, MLflow's migrations on it, a training run and a service process
def test_train_on_postgres_and_serve_from_another_home(mlflow_on_postgres: str, tmp_path_factory, churn_df) -> None:
    root = tmp_path_factory.mktemp("team")
    shared = root / "shared-artifacts"
    settings = Settings(home=root / "trainer", mlflow_tracking_uri=mlflow_on_postgres,
                        mlflow_artifact_root=str(shared))
    registry = settings.open_registry()
    job = train_and_register(registry, churn_df, TrainConfig(epochs=1, exclude_columns=("state",)),
                             model_name="churn", schema=CHURN_SCHEMA, with_baseline=False)
    registry.mark_ready("churn", job.version)
    experiment = registry.client.get_experiment_by_name(EXPERIMENT)
    assert experiment is not None and experiment.artifact_location == shared.resolve().as_uri()
    assert list(shared.rglob("bundle.pt")), "the model's bundle is in the shared artifact root"
    assert not settings.layout.mlflow_db.exists(), "nothing went to the home's SQLite store"
    checks = {c.component: c for c in check_stores(settings)}
    assert (checks["MLflow tracking + registry"].kind, checks["MLflow tracking + registry"].status) == (
        "PostgreSQL", "ok")
    assert (checks["MLflow artifacts"].where, checks["MLflow artifacts"].status) == (str(shared.resolve()), "ok")

    # Another machine of the team: its own home, the same PostgreSQL registry. The scoring service it starts
    # must load the version from there; on its home's empty SQLite store it would find no model at all.
    serving = HomeLayout(root / "serving").ensure()
    backend = LocalBackend(serving, "churn", Registry(serving, mlflow_on_postgres), seed=0, latency_budget_ms=10_000)
    try:
        status = backend.start(job.version)
        assert status.ready and status.champion == job.version, status
        records = churn_df.drop(columns=["churn"]).iloc[:3].to_dict("records")
        reply = httpx.post(f"{status.url}/predict", json={"records": records}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert [p["version"] for p in reply.json()["predictions"]] == [job.version] * 3
    finally:
        backend.stop()
    assert not serving.mlflow_db.exists()
    assert Registry(serving, mlflow_on_postgres).alias("churn", "champion").version == job.version  # type: ignore[union-attr]
