"""The deployment state file: routing for one model, written by a deploy backend, read by the service.

One writer (the backend) and one reader (the scoring service, on start and on ``/admin/reload``).
Writes are atomic (temp file + rename), so the service never reads half a file.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ml_core.atomic_file import write_text_atomic
from ml_core.paths import HomeLayout

# The state file keeps the latest overrides only: it is read on every reload, so it must stay small. The full
# record (who, why, from where) is the caller's audit log; this is the deployment's own note of what it serves.
MAX_OVERRIDES = 50


class GateOverride(BaseModel):
    """A version routed although the evaluation gate had not passed it, because the caller forced it."""

    at: float = Field(default_factory=time.time)
    version: str
    route: Literal["champion", "canary"] = Field(description="how the forced version was routed")
    gate: str = Field(description="the gate's verdict as recorded on the version, e.g. 'gate: failed'")
    reason: str = Field(default="", description="why the caller forced it, as given")


class DeploymentState(BaseModel):
    """Routing for one model plus where its local process runs."""

    model_config = ConfigDict(extra="ignore")

    model: str
    champion: str | None = Field(default=None, description="version answering most traffic")
    canary: str | None = Field(default=None, description="version getting canary_weight of requests")
    canary_weight: float = Field(default=0.0, ge=0.0, le=1.0)
    previous_champion: str | None = Field(default=None, description="fallback and rollback target")
    latency_budget_ms: float = Field(default=250.0, gt=0)
    fallback_prior: float | None = Field(default=None, ge=0.0, le=1.0,
                                         description="last-resort constant score when no baseline exists")
    updated_at: float = Field(default_factory=time.time)
    overrides: list[GateOverride] = Field(default_factory=list, description="latest gate overrides, oldest first")
    # Written by the local backend; the service ignores them.
    pid: int | None = None
    port: int | None = None
    host: str = "127.0.0.1"
    restarts: int = Field(default=0, ge=0, description="starts after a process that died without stop()")
    restarted_at: float | None = Field(default=None, description="when the latest of those restarts happened")

    @model_validator(mode="after")
    def _consistent(self) -> DeploymentState:
        if self.canary is None and self.canary_weight:
            raise ValueError("canary_weight > 0 needs a canary version")
        if self.canary is not None and self.canary == self.champion:
            raise ValueError(f"version {self.canary} cannot be both champion and canary")
        return self

    def versions(self) -> list[str]:
        """Every version the service must hold: champion, canary, previous champion."""
        out: list[str] = []
        for v in (self.champion, self.canary, self.previous_champion):
            if v is not None and v not in out:
                out.append(v)
        return out

    def with_override(self, override: GateOverride) -> DeploymentState:
        """A copy with ``override`` appended to the history (only the latest ``MAX_OVERRIDES`` kept)."""
        return self.model_copy(update={"overrides": [*self.overrides, override][-MAX_OVERRIDES:]})

    def routing(self) -> dict[str, object]:
        return self.model_dump(include={"model", "champion", "canary", "canary_weight", "previous_champion",
                                        "latency_budget_ms", "updated_at"})


def state_path(layout: HomeLayout, model: str) -> Path:
    return layout.deploy_dir / f"{model}.json"


def token_path(layout: HomeLayout, model: str) -> Path:
    return layout.deploy_dir / f"{model}.token"


def log_path(layout: HomeLayout, model: str) -> Path:
    return layout.deploy_dir / f"{model}.log"


def baseline_path(layout: HomeLayout, model: str) -> Path:
    """Where a saved ``SimpleBaseline`` for the model is looked for (the last fallback but one)."""
    return layout.deploy_dir / f"{model}.baseline"


def read_state(path: Path, model: str | None = None) -> DeploymentState:
    """The state in ``path``; an empty state for ``model`` when the file does not exist yet."""
    if not path.exists():
        if model is None:
            raise FileNotFoundError(f"no deployment state at {path}")
        return DeploymentState(model=model)
    return DeploymentState.model_validate_json(path.read_text())


def write_state(path: Path, state: DeploymentState) -> None:
    write_text_atomic(path, state.model_dump_json(indent=2))


def ensure_admin_token(path: Path) -> str:
    """Read the admin token, creating it (mode 0600, never wider) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_admin_token(path)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32))
    return read_admin_token(path)


def read_admin_token(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # someone widened it; the token grants control of routing
    token = path.read_text().strip()
    if not token:
        raise PermissionError(f"admin token file {path} is empty")
    return token
