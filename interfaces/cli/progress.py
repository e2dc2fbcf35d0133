"""Progress displays that always finish: each is a context manager whose display is closed when the block ends.

A rich ``Progress`` redraws from a thread of its own until it is stopped. One left running (training that stopped
early at 38 of 40 epochs never reached the "done" a callback waited for) keeps redrawing its bar and timer over
every later line, and over a prompt typed at the terminal. Closing at the end of a ``with`` block, whatever
happened inside, makes that impossible; the last frame says how the job ended: completed, stopped early at
epoch N, or interrupted at N of TOTAL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:  # a type only: importing torch to name it would slow every command down
    from ml_core.training import EpochCallback

Counter = Callable[[int, int], None]


class FinishingBar:
    """One task on one rich ``Progress``: ``update`` as work is done, ``finish`` once with how it ended."""

    def __init__(self, label: str, total: int, console: Console):
        self.total, self.done, self.info = total, 0, ""
        self.progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                 console=console, transient=False)
        self.task = self.progress.add_task(label, total=total, info="")

    def update(self, done: int, info: str | None = None) -> None:
        self.done = done
        self.info = self.info if info is None else info
        self.progress.update(self.task, completed=done, info=self.info)

    def finish(self, ending: str | None) -> None:
        """Freeze the timer, show ``ending`` beside the last info (None: it completed) and stop the display."""
        if ending:
            self.progress.update(self.task, info=" · ".join(p for p in (self.info, ending) if p))
        self.progress.stop_task(self.task)
        self.progress.stop()  # draws the last frame and stops the refresh thread


@contextmanager
def _shown(bar: FinishingBar, short_ending: Callable[[int], str]) -> Iterator[FinishingBar]:
    """Start ``bar``; at the block's end mark it interrupted (an exception), ``short_ending(done)`` (it ended
    before ``total`` without one) or nothing (completed), and close it before anything else is printed."""
    bar.progress.start()
    ending: str | None = None
    try:
        yield bar
    except BaseException:
        ending = f"interrupted at {bar.done} of {bar.total}"
        raise
    finally:
        if ending is None and bar.done < bar.total:
            ending = short_ending(bar.done)
        bar.finish(ending)


@contextmanager
def count_bar(label: str, total: int, console: Console) -> Iterator[Counter]:
    """A bar over ``total`` things (requests sent, files read); yields ``update(done, total)``."""
    with _shown(FinishingBar(label, total, console), lambda done: f"ended at {done} of {total}") as bar:
        yield lambda done, _total: bar.update(done)


def val_auc(row: dict[str, float]) -> str:
    return f"val AUC {row['val_auc']:.3f}"


@contextmanager
def epoch_bar(label: str, total: int, console: Console,
              describe: Callable[[dict[str, float]], str] = val_auc) -> Iterator[EpochCallback]:
    """A bar over at most ``total`` training epochs; yields a training ``on_epoch`` callback. Early stopping
    ends the loop before ``total`` without telling the callback, so the end of the block is what closes it,
    marked "stopped early at epoch N"."""
    with _shown(FinishingBar(label, total, console), lambda done: f"stopped early at epoch {done}") as bar:
        yield lambda epoch, _total, row: bar.update(epoch, describe(row))
