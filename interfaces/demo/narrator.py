"""What a long job tells the user as it goes; the CLI renders it with rich, tests record it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keep `opsagent --help` fast: no torch import just to name a callback type
    from ml_core.training import EpochCallback


class Narrator:
    def step(self, title: str) -> None: ...
    def info(self, message: str) -> None: ...
    def progress(self, label: str, total: int) -> Callable[[int, int], None]:
        return lambda done, total: None
    def epochs(self, label: str, total: int) -> EpochCallback:
        return lambda epoch, total, row: None
