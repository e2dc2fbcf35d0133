"""Which version went live in a monitoring window, read from the serving state and the registry.

A version went live in the window when it takes canary traffic, when the champion changed in the window
(a promotion or a rollback: the routing changed and the champion is not the previous one), or when the
champion itself was registered in the window (a release that went straight to champion).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from ml_core.deploy.base import DeploymentStatus
from ml_core.registry import VersionInfo

RECENT_VERSIONS = 5
ReleaseHow = Literal["canary", "promoted", "registered"]


class RegisteredVersion(BaseModel):
    """One registry version, as a triage window sees it."""

    version: str = Field(description="registry version id")
    registered_at: float = Field(description="when it was registered, unix seconds")
    aliases: list[str] = Field(default_factory=list, description="the registry aliases it holds (champion, ...)")
    in_window: bool = Field(description="registered at or after the window's start")


class Release(BaseModel):
    """The version that went live in the window: which, how and when."""

    version: str = Field(description="the version that went live")
    how: ReleaseHow = Field(description="canary: it takes canary traffic; promoted: the champion changed in the "
                                        "window; registered: the champion was registered in the window")
    at: float | None = Field(description="unix seconds of the last routing change (canary, promoted) or of the "
                                         "registration (registered)")


def recent_versions(versions: Sequence[VersionInfo], since: float,
                    limit: int = RECENT_VERSIONS) -> list[RegisteredVersion]:
    """The ``limit`` most recently registered versions, newest first, each flagged if registered since ``since``."""
    newest = sorted(versions, key=lambda v: -v.created_ms)[:limit]
    return [RegisteredVersion(version=v.version, registered_at=v.created_ms / 1000, aliases=list(v.aliases),
                              in_window=v.created_ms / 1000 >= since) for v in newest]


def release_in_window(status: DeploymentStatus, recent: Sequence[RegisteredVersion], since: float) -> Release | None:
    """The version that went live since ``since``: a canary taking traffic first, then a changed or new champion."""
    if status.canary and status.canary_weight > 0:
        return Release(version=status.canary, how="canary", at=status.updated_at)
    if not status.champion:
        return None
    if (status.updated_at and status.updated_at >= since and status.previous_champion
            and status.previous_champion != status.champion):
        return Release(version=status.champion, how="promoted", at=status.updated_at)
    registered = next((v for v in recent if v.in_window and v.version == status.champion), None)
    return Release(version=status.champion, how="registered", at=registered.registered_at) if registered else None
