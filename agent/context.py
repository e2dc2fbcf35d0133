"""The typed context every tool and graph node receives: settings plus the infrastructure built from them.

Infrastructure reaches tools through this object, never module globals, and it never appears in the
schema an LLM sees. Expensive handles (MLflow registry, Chroma memory) are opened on first use; ``close()``
(or a ``with`` block) closes the database handles it opened.

A long-lived process (`opsagent serve`: the scheduler, the web page, Slack) builds a context per job. Those
contexts borrow the clock-free, thread-safe handles from one ``SharedHandles`` per home — the MLflow registry
client and the Chroma memory — rather than open new ones every tick; the stores that run on the context's
clock (approvals, incidents) stay the context's own, and ``close()`` closes only those.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Self

from agent.settings import Settings
from ml_core.paths import HomeLayout

if TYPE_CHECKING:
    from agent.approvals import ApprovalStore
    from agent.incidents import IncidentStore
    from agent.memory import Memory
    from agent.proposals import Proposal
    from ml_core.deploy.base import DeploymentBackend
    from ml_core.importance import FeatureImportance
    from ml_core.monitoring.check import MonitoringThresholds
    from ml_core.predlog import PredictionLog
    from ml_core.registry import Registry
    from ml_core.spec.model_spec import ModelSpec
    from ml_core.watch import WatchResult

# Drives traffic at a deployed service while remediation watches a canary: (service url, seconds).
# The demo and tests replay simulated customers; in production real traffic arrives and this is None.
CanaryTraffic = Callable[[str, float], None]


class SharedHandles:
    """The registry client and the memory of one home, opened once and lent to every context of a process.

    Both are safe to share between threads: MLflow's client keeps no per-call state (its SQLAlchemy store is
    pooled), ChromaDB's client serialises its own writes, and the memory's NumPy index has a lock. Opened on
    first use under a lock, so two jobs starting at once open one of each: a lock each, since opening the memory
    loads the embedding model (tens of seconds on a busy machine) and a web page that only needs the registry
    must not wait for it (`opsagent serve`'s first scheduled triage runs at start-up, when the page is opened)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._registry_lock, self._memory_lock = threading.Lock(), threading.Lock()
        self._registry: Registry | None = None
        self._memory: Memory | None = None

    @property
    def registry(self) -> Registry:
        with self._registry_lock:
            if self._registry is None:
                self._registry = self.settings.open_registry()
            return self._registry

    @property
    def memory(self) -> Memory:
        with self._memory_lock:
            if self._memory is None:
                self._memory = self.settings.open_memory()
            return self._memory


def store_key(settings: Settings) -> tuple[object, ...]:
    """What the shared registry and memory are opened from: contexts that agree on it may borrow them."""
    return (settings.layout.home, settings.mlflow_tracking_uri, settings.mlflow_artifact_root, settings.chroma_url)


@dataclass
class OpsContext:
    """Every field has a default, so LangGraph's server can build one from a run's context (``OpsContext(**context)``,
    the context filtered to the keys of ``context_jsonschema``): settings then come from the environment
    (``OPSAGENT_HOME``, ``OPSAGENT_CONFIG``). The interfaces build theirs from the settings of their edge."""

    settings: Settings = field(default_factory=Settings)
    clock: Callable[[], float] = time.time  # tests move time to expire approvals
    canary_traffic: CanaryTraffic | None = None
    progress: Callable[[str], None] = field(default=lambda _message: None)
    actor: str = "opsagent"  # who acts on the agent's behalf in the audit log
    via: str = "cli"  # the interface this run came through (cli, web, slack, scheduler, demo, chat)
    # Files a drafted proposal into the approvals inbox and returns a short message. The graphs layer
    # sets it (it starts the proposal's remediation thread, paused for approval); tools only call it.
    file_proposal: Callable[[Proposal], str] | None = None
    # Runs a triage of one model now and returns a one-line verdict (chat's start_triage tool). Set by the
    # graphs layer the same way; a run without it (LangGraph's own server, for now) says triage is unavailable.
    start_triage: Callable[[str], str] | None = None
    # A chat model (langchain) / pydantic-ai model to use instead of the configured endpoint: tests inject
    # scripted fakes here. None: built from settings (and absent when no LLM is configured).
    chat_model: Any = None
    writer_model: Any = None
    # Handles shared with the other contexts of this process (``SharedHandles``); None: this context opens its own.
    shared: SharedHandles | None = None
    # LangChain callback handlers every graph run of this context reports to (GraphRunner passes them in the run's
    # config, so each LLM call inside reaches them): `opsagent serve` counts its LLM calls and tokens this way.
    callbacks: list[Any] = field(default_factory=list)

    @classmethod
    def __get_pydantic_core_schema__(cls, _source: Any, _handler: Any) -> Any:
        """The run context a LangGraph server (Studio, the SDK) may set: ``actor`` only. Everything else is
        infrastructure built from settings, which has no JSON form; the server drops keys not in this schema."""
        from pydantic_core import core_schema

        fields = {"actor": core_schema.typed_dict_field(core_schema.str_schema(min_length=1), required=False)}
        return core_schema.no_info_after_validator_function(lambda data: cls(**data),
                                                            core_schema.typed_dict_schema(fields))

    @cached_property
    def layout(self) -> HomeLayout:
        return self.settings.layout.ensure()

    def _borrowed(self) -> SharedHandles | None:
        """The shared handles, if they are for this context's home and stores (else open our own)."""
        mine, theirs = self.settings, self.shared.settings if self.shared is not None else None
        if theirs is None or store_key(theirs) != store_key(mine):
            return None
        return self.shared

    @cached_property
    def registry(self) -> Registry:
        if (shared := self._borrowed()) is not None:
            import mlflow

            # What opening a Registry does: MLflow's fluent calls (a retrain's start_run) use the global URI.
            mlflow.set_tracking_uri(shared.registry.tracking_uri)
            return shared.registry
        return self.settings.open_registry()

    @cached_property
    def memory(self) -> Memory:
        if (shared := self._borrowed()) is not None:
            return shared.memory
        return self.settings.open_memory()

    @cached_property
    def approvals(self) -> ApprovalStore:
        from agent.approvals import ApprovalStore

        return ApprovalStore(self.layout.approvals_store, clock=self.clock)

    @cached_property
    def incidents(self) -> IncidentStore:
        """Incidents, in the approvals file, on the context's clock."""
        from agent.incidents import IncidentStore

        return IncidentStore(self.layout.approvals_store, clock=self.clock)

    def spec(self, model: str) -> ModelSpec:
        """The model's spec, read (and validated) afresh: a user may edit the YAML between two ticks."""
        from ml_core.spec.store import SpecStore

        return SpecStore(self.layout).get(model)

    def thresholds(self, model: str) -> MonitoringThresholds:
        """The monitoring thresholds every check of ``model`` uses: its spec's drift settings and SLOs, the
        settings' SLOs where the spec leaves them unset."""
        from ml_core.monitoring.spec_thresholds import monitoring_thresholds

        return monitoring_thresholds(self.spec(model), self.settings.slo_p95_latency_ms, self.settings.slo_error_rate)

    def check_window(self, model: str, **kwargs: Any) -> WatchResult:
        """``ml_core.watch.check_window`` for ``model`` with its spec's schema and thresholds (``kwargs``: since,
        until, minutes, write_report, reference, thresholds)."""
        from ml_core.data.tables import split_frame
        from ml_core.monitoring.spec_thresholds import monitoring_thresholds
        from ml_core.spec.data import load_spec_data
        from ml_core.watch import check_window, load_reference

        spec = self.spec(model)  # read once: the schema, thresholds and fallback all come from this one reading
        kwargs.setdefault("thresholds", monitoring_thresholds(spec, self.settings.slo_p95_latency_ms,
                                                              self.settings.slo_error_rate))
        if kwargs.get("reference") is None:
            kwargs["reference"] = load_reference(
                self.registry, model, spec.schema,
                fallback=lambda: split_frame(load_spec_data(spec), spec.schema, seed=self.settings.seed).train)
        return check_window(self.layout, self.registry, model, schema=spec.schema, **kwargs)

    def importance(self, model: str, version: str | None = None) -> FeatureImportance:
        """``ml_core.importance_store.load_importance`` for ``model`` v``version`` (default: the champion): stored
        with the version or its parent, else measured on its training rows — or, for a version saved without
        any, on the training split of the spec's data — and cached in its bundle."""
        from ml_core.data.tables import split_frame
        from ml_core.importance_store import load_importance
        from ml_core.registry import CHAMPION, RegistryError
        from ml_core.spec.data import load_spec_data

        spec = self.spec(model)
        if version is None:
            champion = self.registry.alias(model, CHAMPION)
            if champion is None:
                raise RegistryError(f"model '{model}' has no champion; name a version")
            version = champion.version
        fallback = ((lambda: split_frame(load_spec_data(spec), spec.schema, seed=self.settings.seed).train)
                    if spec.data else None)
        return load_importance(self.registry, model, version, schema=spec.schema, fallback=fallback)

    def latency_budget_ms(self, model: str) -> float:
        return self.spec(model).slo.latency_budget_ms or self.settings.latency_budget_ms

    def backend(self, model: str) -> DeploymentBackend:
        """The deployment backend for one model: local processes, or Kubernetes when
        ``OPSAGENT_DEPLOY_BACKEND=kubernetes``."""
        from agent.deploy_backend import make_backend

        return make_backend(self.settings, model, self.registry, latency_budget_ms=self.latency_budget_ms(model))

    def prediction_log(self, model: str) -> PredictionLog:
        """The model's prediction log, a new handle each call: use it in ``with`` (or close it)."""
        from ml_core.predlog import PredictionLog

        return PredictionLog(self.layout.predictions_store(model))

    def has_prediction_log(self, model: str) -> bool:
        """Whether the model has a prediction log yet (opening one would create it empty)."""
        from ml_core.predlog import log_exists

        return log_exists(self.layout.predictions_store(model))

    def close(self) -> None:
        """Close the stores this context opened (the registry needs nothing; Memory has no close yet; shared
        handles belong to their ``SharedHandles``). A closed context reopens a store if it is used again."""
        for name in ("approvals", "incidents"):
            store = self.__dict__.pop(name, None)  # opened only if a cached_property ran
            if store is not None:
                store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
