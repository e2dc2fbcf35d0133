"""The one settings object, built at the edge (CLI, web, Slack, scheduler) and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
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
    # The SLOs every check (scheduled triage, tools, canary watch) judges latency and errors by.
    slo_p95_latency_ms: float = Field(default=250.0, gt=0, description="p95 latency per version")
    slo_error_rate: float = Field(default=0.01, ge=0, le=1, description="share of errors/fallbacks per version")

    # The brain: any OpenAI-compatible endpoint. Unset base URL and key: the offline policy decides.
    llm_base_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8080/v1 (vLLM, llama.cpp)")
    llm_api_key: SecretStr | None = Field(default=None, description="API key; OpenAI's endpoint when no base URL")
    llm_model: str = "gpt-4o-mini"
    llm_timeout_s: float = Field(default=30.0, gt=0, description="per request; past it the offline policy takes over")
    llm_max_retries: int = Field(default=2, ge=0, le=10, description="retries with exponential backoff")
    llm_max_tokens: int = Field(default=1024, ge=16)
    llm_input_usd_per_mtok: float = Field(default=0.15, ge=0, description="for the cost estimate in reports")
    llm_output_usd_per_mtok: float = Field(default=0.60, ge=0)
    tavily_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPSAGENT_TAVILY_API_KEY", "TAVILY_API_KEY"),
        description="enables the web-search tool; absent, the tool is not offered")

    # Approvals and remediation.
    approval_ttl_minutes: float = Field(default=24 * 60.0, gt=0, description="a proposal expires after this")
    triage_window_minutes: float = Field(default=60.0, gt=0, description="how far back a triage looks")
    canary_weight: float = Field(default=0.1, gt=0, le=1)
    canary_watch_s: float = Field(default=60.0, ge=0, description="how long remediation watches a canary")
    train_usd_per_hour: float = Field(default=3.0, ge=0, description="an hour of the training machine, for costs")
    canary_min_requests: int = Field(default=20, ge=1, description="requests the canary must see before a verdict")

    # Scheduled triage (APScheduler, job store in home).
    schedule_misfire_grace_s: int = Field(default=300, ge=1, description="a run this late (scheduler down, busy) "
                                          "still runs; later than that it is skipped until the next one")
    schedule_timezone: str | None = Field(default=None, description="IANA zone for cron expressions; "
                                          "unset: this machine's local zone")
    schedule_poll_s: float = Field(default=30.0, gt=0, description="how often a running scheduler re-reads "
                                   "the job store, so `opsagent schedule add/remove` reach it")

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url or self.llm_api_key)

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(self.home.expanduser().resolve())

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or self.layout.tracking_uri
