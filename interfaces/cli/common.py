"""Shared CLI plumbing: settings at the edge, one console, user errors as messages (never tracebacks)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

if TYPE_CHECKING:  # types only: `opsagent --help` must not pay for pydantic-settings (and its plugins)
    from agent.settings import Settings

console = Console()
err_console = Console(stderr=True)


class UserError(Exception):
    """A problem the user can fix; printed as a message with exit code 2."""


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean bad input, from every layer; imported lazily to keep --help fast."""
    from agent.approvals import ApprovalError
    from agent.incidents import IncidentError
    from agent.memory_errors import MemoryUnavailable
    from agent.proposals import ProposalEditError
    from ml_core.data.validation import DataValidationError
    from ml_core.deploy.base import DeploymentError
    from ml_core.registry import RegistryError
    from ml_core.simulator.scenario import ScenarioError
    from ml_core.spec.errors import SpecError

    return (UserError, DataValidationError, RegistryError, ScenarioError, ProposalEditError, ApprovalError,
            IncidentError, DeploymentError, SpecError, MemoryUnavailable)


def load_settings() -> Settings:
    from pydantic import ValidationError

    from agent.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        bad = "; ".join(f"OPSAGENT_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" if e["loc"]
                        else e["msg"] for e in exc.errors())  # a whole-model check names its settings itself
        raise UserError(f"invalid settings from the environment or the config file: {bad}") from exc
    except ValueError as exc:  # OPSAGENT_CONFIG names no file, or the TOML does not parse
        raise UserError(f"could not read the settings: {exc}") from exc


def model_spec(settings: Settings, name: str | None):
    """The spec of model ``name`` (default: the setting), validated; a SpecError names what is wrong."""
    from ml_core.spec.store import SpecStore

    return SpecStore(settings.layout.ensure()).get(name or settings.model_name)


def quiet_libraries() -> None:
    """MLflow and friends print INFO lines and progress bars of their own; keep the CLI's output clean."""
    import logging
    import warnings

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # MLflow sets its loggers' level from this when (if ever) it is imported: a command that never touches the
    # registry does not pay MLflow's import (seconds of CPU) just to be quiet.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    for name in ("mlflow", "alembic", "evidently", "urllib3", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


JSON_HELP = "print the result as JSON on stdout and nothing else (for scripts); messages go to stderr"


def print_json(value: Any) -> None:
    """Print a typed result as JSON on stdout, and nothing else: a pydantic model as its
    ``model_dump(mode="json")``, a dataclass field by field, lists of either as an array; keys in the order the
    type declares them, so scripts can rely on them. NaN and infinities become null (JSON has neither)."""
    from pydantic_core import to_json

    sys.stdout.write(to_json(value, indent=2, inf_nan_mode="null", fallback=str).decode() + "\n")
    sys.stdout.flush()


def cli_settings(backend: str | None = None, namespace: str | None = None, image: str | None = None,
                 context: str | None = None, kubeconfig: str | None = None):
    """The settings, with this command's flags over them (validated as the settings are)."""
    from pydantic import ValidationError

    from agent.settings import Settings

    flags = {"deploy_backend": backend, "k8s_namespace": namespace, "k8s_image": image, "k8s_context": context,
             "k8s_kubeconfig": kubeconfig}
    given: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    settings = load_settings()
    if not given:
        return settings
    try:
        return Settings.model_validate({**settings.model_dump(), **given})
    except ValidationError as exc:
        flag = {"deploy_backend": "--backend", "k8s_namespace": "--namespace", "k8s_image": "--image",
                "k8s_context": "--context", "k8s_kubeconfig": "--kubeconfig"}
        # A whole-model check (one setting against another) has no field in its location.
        bad = "; ".join(f"{flag.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" if e["loc"] else e["msg"]
                        for e in exc.errors())
        from rich.markup import escape  # a pattern's [a-z] is not console markup

        raise UserError(escape(f"invalid option: {bad}")) from exc

