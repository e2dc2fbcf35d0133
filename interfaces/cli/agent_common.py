"""CLI plumbing for the agent commands: a context with progress on the console, and the graph runner."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from interfaces.cli.common import console, load_settings

if TYPE_CHECKING:
    from graphs.runner import GraphRunner


def whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "unknown"


@contextmanager
def agent_runner(*, quiet: bool = False) -> Iterator[GraphRunner]:
    """Settings from the environment → context (progress printed) → graphs with the SQLite checkpointer."""
    from agent.context import OpsContext
    from graphs.runner import GraphRunner

    settings = load_settings()
    ctx = OpsContext(settings, via="cli", actor=whoami(),
                     progress=(lambda _m: None) if quiet else (lambda m: console.print(f"  [dim]›[/] {m}")))
    with GraphRunner(ctx) as runner:
        yield runner
