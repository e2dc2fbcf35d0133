"""Where everything lives under one home directory (OPSAGENT_HOME)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# opsagent's setting for a team's MLflow (agent.settings), read by name where no settings object reaches: the
# scoring service's process, started by a deploy backend or in a container.
TRACKING_URI_ENV = "OPSAGENT_MLFLOW_TRACKING_URI"


@dataclass(frozen=True)
class HomeLayout:
    """The embedded defaults: MLflow on SQLite, prediction logs, reports, deployment state."""

    home: Path

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
