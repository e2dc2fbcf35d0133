"""The one settings object, built at the edge (CLI, web, Slack, scheduler) and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ml_core.deploy.quantity import (
    check_cpu,
    check_limit,
    check_memory,
    check_optional_cpu,
    check_optional_memory,
)
from ml_core.paths import HomeLayout, database_url

if TYPE_CHECKING:
    from agent.memory import Memory
    from ml_core.registry import Registry

DATABASE_URL_HINT = ("Check that the server in OPSAGENT_DATABASE_URL is up and the URL, user and password are right "
                     "(postgresql+psycopg://user:password@host:5432/database), or unset it to use the SQLite files "
                     "in OPSAGENT_HOME")
CONFIG_ENV = "OPSAGENT_CONFIG"  # path of a TOML config file; environment variables override its values

# A list setting from the environment: comma-separated ("U01,U02") or JSON ('["U01", "U02"]').
CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """opsagent settings. Every field can be set as an environment variable ``OPSAGENT_<FIELD>``, or as a
    key of the TOML file named by ``OPSAGENT_CONFIG`` (the environment wins)."""

    model_config = SettingsConfigDict(env_prefix="OPSAGENT_", frozen=True, extra="forbid")

    home: Path = Field(default=Path("~/.opsagent"), description="OPSAGENT_HOME: all local state lives here")
    # A team's MLflow: a tracking server (http://mlflow:5000, which picks the artifact store) or its database
    # straight (postgresql+psycopg://user@db/mlflow, then with a shared artifact root). Every component honours it,
    # the scoring service included (the deploy backend passes it on).
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI: a server or a database URL; default is SQLite inside home"
    )
    mlflow_artifact_root: str | None = Field(
        default=None, description="where new MLflow experiments keep artifacts: a path every machine mounts, or "
        "s3://..., mlflow-artifacts:/...; default: the tracking server's choice, else HOME/mlartifacts")
    chroma_url: str | None = Field(
        default=None, description="a Chroma server for the memory, e.g. http://127.0.0.1:8000; default: the "
        "embedded store in HOME/memory")
    database_url: str | None = Field(
        default=None, description="a team's PostgreSQL for every store and the checkpointer, e.g. "
        "postgresql+psycopg://opsagent:PASSWORD@db:5432/opsagent; unset: SQLite files in home")
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
    # Prices come from the genai-prices table for llm_model (at llm_base_url's provider); these two override it
    # (set both), e.g. for a model the table lacks or a negotiated rate. Neither set and no table entry: the
    # reports say the price is unknown.
    llm_input_usd_per_mtok: float | None = Field(default=None, ge=0, description="USD per million input tokens")
    llm_output_usd_per_mtok: float | None = Field(default=None, ge=0, description="USD per million output tokens")
    # One process's LLM calls, all graphs together (langchain-core's InMemoryRateLimiter, a token bucket).
    # A triage makes about six calls one after another, each taking seconds, so 2/s never slows one down;
    # it caps a burst (a scheduler tick over many models, a chat loop) at 120 requests a minute, a quarter of
    # OpenAI's lowest paid tier (500 RPM for the mini models), leaving room for other clients of the same key.
    llm_requests_per_second: float = Field(default=2.0, gt=0, description="most LLM requests per second")
    # The prompt budget a chat turn's history is trimmed to (graphs.chat). Most served open models run with an
    # 8k-32k context; 16k fits the middle of that, and OpenAI's 128k models simply use less of theirs.
    llm_context_tokens: int = Field(default=16384, ge=1024, description="the model's context window, in tokens")
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
    # An incident closes itself after this many consecutive quiet ticks, and a tick's different cause replaces
    # the incident's only after holding as long (agent.incident_ticks). A wrong close costs a second page for
    # the same fault; a late close costs minutes. A fault near the detection threshold can read clear on one
    # window: if one tick in five misses it (p = 0.2) and misses were independent, N in a row happen with
    # p^N: 4% per tick for N = 2, 0.8% for N = 3, 0.16% for N = 4. Three is the first N under 1%, and on a
    # 5-minute schedule it reports the all-clear 15 minutes after the fault ends.
    incident_clear_ticks: int = Field(default=3, ge=1, le=100, description="quiet ticks that resolve an incident; "
                                      "also how long a new cause must hold before the incident takes it")

    # Scheduled triage (APScheduler, job store in home).
    schedule_misfire_grace_s: int = Field(default=300, ge=1, description="a run this late (scheduler down, busy) "
                                          "still runs; later than that it is skipped until the next one")
    schedule_timezone: str | None = Field(default=None, description="IANA zone for cron expressions; "
                                          "unset: this machine's local zone")
    schedule_poll_s: float = Field(default=30.0, gt=0, description="how often a running scheduler re-reads "
                                   "the job store, so `opsagent schedule add/remove` reach it")

    # Interfaces started by `opsagent serve`: the web page, the Slack endpoint and the scheduler, one process.
    web_host: str = Field(default="127.0.0.1", description="bind address of `opsagent serve` (loopback default)")
    web_port: int = Field(default=8780, ge=1, le=65535)
    web_public_url: str | None = Field(default=None, description="how people reach the web page (links in Slack); "
                                       "default http://WEB_HOST:WEB_PORT")
    web_token: SecretStr | None = Field(default=None, description="sign-in token for user 'operator'; unset and "
                                        "no WEB_USERS: `opsagent serve` makes one and prints it")
    web_users: dict[str, SecretStr] = Field(default_factory=dict, description="user name -> sign-in token, "
                                            "e.g. '{\"alice\": \"...\"}'")
    web_approvers: CommaList = Field(default_factory=list, description="web users who may approve; empty: "
                                     "every signed-in user")
    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPSAGENT_SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN"),
        description="xoxb-... bot token; with the signing secret it enables the Slack endpoint")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPSAGENT_SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPSAGENT_SLACK_APP_TOKEN", "SLACK_APP_TOKEN"),
        description="xapp-... token, only for Socket Mode")
    slack_socket_mode: bool = Field(default=False, description="connect out over a WebSocket instead of HTTP")
    slack_channel: str | None = Field(default=None, description="channel id for incidents, proposals, outcomes")
    slack_approvers: CommaList = Field(default_factory=list, description="Slack user ids (U...) who may approve; "
                                       "empty: nobody approves from Slack")
    slack_api_base_url: str | None = Field(default=None, description="Slack Web API base URL (tests: a stand-in)")
    # Tracing (agent.tracing): every graph run's nodes, LLM and tool calls, in MLflow's tracking store.
    tracing: bool = Field(default=True, description="OPSAGENT_TRACING=off: no traces")
    otlp_endpoint: str | None = Field(default=None, description="also export spans to this OTLP collector, e.g. "
                                      "http://127.0.0.1:4318/v1/traces (OTLP/HTTP protobuf)")
    shutdown_grace_s: float = Field(default=120.0, ge=0, description="on Ctrl-C/SIGTERM, how long running "
                                    "triages and remediations get to finish (each step is checkpointed)")
    # Deployment backend (ml_core.deploy): local processes (the default, `make demo`), or a Kubernetes cluster.
    deploy_backend: Literal["local", "kubernetes"] = Field(default="local", description="where `opsagent deploy` "
                                                           "and remediation run the scoring service")
    k8s_namespace: str = Field(default="default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63,
                               description="namespace of the models' Deployments (a DNS label)")
    k8s_image: str = Field(default="opsagent:latest", description="the scoring-service image (the Dockerfile's), "
                           "as the cluster pulls it, e.g. ghcr.io/acme/opsagent:1.0")
    k8s_context: str | None = Field(default=None, description="kubeconfig context; default: its current one")
    k8s_kubeconfig: str | None = Field(default=None, description="kubeconfig file; default: $KUBECONFIG, "
                                       "~/.kube/config, or the in-cluster service account")
    k8s_replicas: int = Field(default=2, ge=1, le=100, description="scoring pods per model (two: a rolling "
                              "update never leaves none)")
    k8s_cpu: str = Field(default="500m", description="CPU request of a scoring pod")
    k8s_memory: str = Field(default="1Gi", description="memory request and limit of a scoring pod")
    k8s_rollout_timeout_s: int = Field(default=300, ge=1, description="a rolling update whose pods are not all "
                                       "ready by then is undone")
    k8s_env_secret: str | None = Field(default=None, description="a Secret in the namespace whose keys the "
                                       "scoring pods get as environment, e.g. OPSAGENT_DATABASE_URL with its password")

    # Training on the cluster (`opsagent train --backend kubernetes`): which resource, and each pod's size.
    # Approved retrain proposals train where train_backend says: here (local), or as that same job on the cluster.
    train_backend: Literal["local", "kubernetes"] = Field(default="local", description="where an approved retrain "
                                                          "proposal trains: this machine, or a Kubernetes job")
    k8s_train_timeout_s: float = Field(default=3600.0, gt=0, description="how long a retrain proposal's remediation "
                                       "waits for its training job (the job is left running past it)")
    k8s_train_poll_s: float = Field(default=5.0, gt=0, description="how often a running training job is read")
    k8s_train_job: Literal["auto", "indexed", "pytorchjob"] = Field(default="auto", description="auto: a Kubeflow "
                                                                    "PyTorchJob where the cluster serves one, else "
                                                                    "an Indexed Job; or force either")
    k8s_train_cpu: Annotated[str, AfterValidator(check_cpu)] = Field(default="2", description="CPU request of a "
                                                                     "training pod (a Kubernetes quantity: 2, 500m)")
    k8s_train_cpu_limit: Annotated[str | None, AfterValidator(check_optional_cpu)] = Field(
        default=None, description="CPU limit of a training pod; unset: none")
    k8s_train_memory: Annotated[str, AfterValidator(check_memory)] = Field(default="4Gi", description="memory "
                                                                           "request of a training pod (4Gi, 512Mi)")
    k8s_train_memory_limit: Annotated[str | None, AfterValidator(check_optional_memory)] = Field(
        default=None, description="memory limit of a training pod; unset: the request")
    k8s_train_gpus: int | None = Field(default=None, ge=0, le=64, description="nvidia.com/gpu per training pod; "
                                       "unset: one per process with --device cuda, else none")

    @field_validator("web_approvers", "slack_approvers", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [v.strip() for v in text.split(",") if v.strip()]
        return value

    @field_validator("chroma_url")
    @classmethod
    def _chroma_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"OPSAGENT_CHROMA_URL={value!r}: give the Chroma server's address as "
                             "http://HOST:PORT (e.g. http://127.0.0.1:8000), or unset it for the embedded store")
        return value.strip().rstrip("/")
    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: str | None) -> str | None:
        url = database_url(value)
        if url is not None and not url.startswith("postgresql+psycopg://"):
            raise ValueError("OPSAGENT_DATABASE_URL must be a PostgreSQL URL, "
                             "postgresql+psycopg://user:password@host:5432/database (or unset: SQLite files in home)")
        return url

    @model_validator(mode="after")
    def _training_pod_limits(self) -> Settings:
        check_limit("cpu", self.k8s_train_cpu, self.k8s_train_cpu_limit)
        check_limit("memory", self.k8s_train_memory, self.k8s_train_memory_limit)
        return self

    @model_validator(mode="after")
    def _both_prices_or_neither(self) -> Settings:
        if (self.llm_input_usd_per_mtok is None) != (self.llm_output_usd_per_mtok is None):
            raise ValueError("set both OPSAGENT_LLM_INPUT_USD_PER_MTOK and OPSAGENT_LLM_OUTPUT_USD_PER_MTOK (an "
                             "override of the price table), or neither")
        return self

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the TOML file in OPSAGENT_CONFIG (if set)."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            path = Path(config).expanduser()
            if not path.is_file():
                raise ValueError(f"{CONFIG_ENV}={config}: no such file; point it at a TOML file or unset it")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_signing_secret or self.slack_socket_mode))

    @property
    def web_url(self) -> str:
        return (self.web_public_url or f"http://{self.web_host}:{self.web_port}").rstrip("/")

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url or self.llm_api_key)

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(self.home.expanduser().resolve(), database_url=self.database_url)

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or self.layout.tracking_uri

    def open_registry(self) -> Registry:
        """The MLflow registry these settings name (tracking URI and artifact root), on the home's layout."""
        from ml_core.registry import Registry

        return Registry(self.layout.ensure(), self.mlflow_tracking_uri, self.mlflow_artifact_root)

    def open_memory(self) -> Memory:
        """The memory these settings name: the Chroma server at ``chroma_url``, else the home's embedded store."""
        from agent.memory import Memory

        return Memory(self.layout.ensure().memory_dir, url=self.chroma_url)
