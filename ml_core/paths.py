"""Where everything lives under one home directory (OPSAGENT_HOME)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ml_core.store_engine import in_schema

# opsagent's setting for a team's MLflow (agent.settings), read by name where no settings object reaches: the
# scoring service's process, started by a deploy backend or in a container.
TRACKING_URI_ENV = "OPSAGENT_MLFLOW_TRACKING_URI"
DATABASE_URL_ENV = "OPSAGENT_DATABASE_URL"  # the setting's variable: processes started without settings read it


def database_url(value: str | None) -> str | None:
    """A team database URL as opsagent takes it: blank is none; ``postgresql://`` means psycopg 3 (SQLAlchemy's
    bare scheme would pick psycopg2, which is not installed)."""
    if value is None or not value.strip():
        return None
    return value.strip().replace("postgresql://", "postgresql+psycopg://", 1)


@dataclass(frozen=True)
class HomeLayout:
    """The embedded defaults: MLflow on SQLite, prediction logs, reports, deployment state.

    With ``database_url`` (a team's PostgreSQL, ``OPSAGENT_DATABASE_URL``) the stores that would be SQLite files
    here live in that database instead, each file's tables in a schema named after it (``store``)."""

    home: Path
    database_url: str | None = None

    def store(self, path: Path) -> Path | str:
        """Where the store kept in the SQLite file ``path`` (under home) lives: that file, or with a
        ``database_url`` its own schema there: approvals.db → ``approvals``, predictions/churn.db →
        ``predictions_churn``."""
        if self.database_url is None:
            return path
        relative = path.relative_to(self.home).with_suffix("")
        return in_schema(self.database_url, "_".join(relative.parts))

    @property
    def approvals_store(self) -> Path | str:
        """Proposals, audit log, leases and incidents: ``approvals_db`` or its schema."""
        return self.store(self.approvals_db)

    @property
    def schedules_store(self) -> Path | str:
        """APScheduler's job store, the run log and the tick claims: ``schedules_db`` or its schema."""
        return self.store(self.schedules_db)

    @property
    def checkpoints_store(self) -> Path | str:
        """LangGraph's checkpoints: ``checkpoints_db`` or its schema."""
        return self.store(self.checkpoints_db)

    def predictions_store(self, model_name: str) -> Path | str:
        """One model's prediction log: ``predictions_db(model_name)`` or its schema."""
        return self.store(self.predictions_db(model_name))

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db}"

    @property
    def predictions_dir(self) -> Path:
        return self.home / "predictions"

    def predictions_db(self, model_name: str) -> Path:
        return self.predictions_dir / f"{model_name}.db"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def deploy_dir(self) -> Path:
        return self.home / "deploy"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def memory_dir(self) -> Path:
        return self.home / "memory"

    @property
    def models_dir(self) -> Path:
        """One spec per watched model: NAME.yaml."""
        return self.home / "models"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def checkpoints_db(self) -> Path:
        """LangGraph's SQLite checkpointer: graph threads survive the process."""
        return self.home / "checkpoints.db"

    @property
    def approvals_db(self) -> Path:
        """Proposals, their status, and the append-only audit log."""
        return self.home / "approvals.db"

    @property
    def schedules_db(self) -> Path:
        """Scheduled triage: APScheduler's persistent job store and the log of scheduled runs."""
        return self.home / "schedules.db"

    def ensure(self) -> HomeLayout:
        for d in (self.home, self.mlflow_artifacts, self.predictions_dir, self.reports_dir,
                  self.deploy_dir, self.quarantine_dir, self.data_dir, self.models_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
