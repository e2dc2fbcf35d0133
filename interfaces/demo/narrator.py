"""What a long job tells the user as it goes; the CLI renders it with rich, tests record it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # keep `opsagent --help` fast: no torch import just to name a callback type
    from ml_core.training import EpochCallback


class Narrator:
    """Steps and lines as they happen; counts and epochs inside a ``with`` block, so a display the narrator
    opens for them is closed when the work ends, however it ends (early stopping, an error)."""

    def step(self, title: str) -> None: ...
    def info(self, message: str) -> None: ...

    def progress(self, label: str, total: int) -> AbstractContextManager[Callable[[int, int], None]]:
        return nullcontext(lambda done, total: None)

    def epochs(self, label: str, total: int) -> AbstractContextManager[EpochCallback]:
        return nullcontext(lambda epoch, total, row: None)
