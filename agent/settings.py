"""The one settings object, built at the edge (CLI, web, Slack, scheduler) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml_core.paths import HomeLayout


class Settings(BaseSettings):
    """opsagent settings. Every field can be set as an environment variable ``OPSAGENT_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="OPSAGENT_", frozen=True, extra="forbid")

    home: Path = Field(default=Path("~/.opsagent"), description="OPSAGENT_HOME: all local state lives here")
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking server; default is SQLite inside home"
    )
    model_name: str = Field(default="churn", description="Registered model name used by default")
    seed: int = 7
    serve_host: str = "127.0.0.1"
    serve_port: int = 8765
    latency_budget_ms: float = Field(default=250.0, gt=0, description="Per-request budget before fallback")
    slo_p95_latency_ms: float = Field(default=100.0, gt=0)
    slo_error_rate: float = Field(default=0.01, ge=0, le=1)

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(self.home.expanduser().resolve())

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or self.layout.tracking_uri
