"""Progress displays finish and close: a training run that stops early leaves its bar marked "stopped early at
epoch N" and nothing redrawing afterwards; an error marks it interrupted; a count that completes says nothing more."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from interfaces.cli.progress import count_bar, epoch_bar
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.training import TrainConfig, train_model

# rich redraws a live display 10 times a second; a display still running after its block would write within
# 0.1 s, so three periods of silence show it is closed.
REDRAW_PERIOD_S = 0.1


def terminal() -> tuple[Console, io.StringIO]:
    """A console that believes it is a terminal, so rich animates (and would keep animating) its bars."""
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=140, color_system=None), out


def assert_silent_after(out: io.StringIO) -> None:
    written = out.getvalue()
    time.sleep(3 * REDRAW_PERIOD_S)
    assert out.getvalue() == written, "a progress display kept redrawing after its block ended"


def last_frame(out: io.StringIO) -> str:
    """The bar's last drawing: rich redraws in place, so the text after the last carriage return / cursor move."""
    text = out.getvalue().rstrip()
    return text.replace("\x1b[2K", "\r").split("\r")[-1]


@pytest.fixture(scope="module")
def small_split(churn_df):
    return split_frame(churn_df.sample(900, random_state=0), CHURN_SCHEMA, seed=7)


def test_early_stopped_training_closes_its_bar_marked(small_split):
    console, out = terminal()
    # patience 2 of 30 epochs: the validation loss stops improving long before epoch 30 on 900 rows.
    config = TrainConfig(epochs=30, patience=2, members=1, hidden=32, exclude_columns=("state",))
    with epoch_bar("training churn", config.epochs, console) as on_epoch:
        result = train_model(small_split, config, CHURN_SCHEMA, on_epoch=on_epoch)
    assert result.stopped_early and len(result.history) < 30
    frame = last_frame(out)
    assert f"{len(result.history)}/30" in frame
    assert f"stopped early at epoch {len(result.history)}" in frame
    assert f"val AUC {result.history[-1]['val_auc']:.3f}" in frame  # the last epoch's figure stays beside it
    assert_silent_after(out)


def test_an_error_inside_marks_the_bar_interrupted_and_closes_it():
    console, out = terminal()
    with pytest.raises(RuntimeError, match="disk full"), epoch_bar("training churn", 10, console) as on_epoch:
        for epoch in (1, 2, 3):
            on_epoch(epoch, 10, {"val_auc": 0.8})
        raise RuntimeError("disk full")
    assert "interrupted at 3 of 10" in last_frame(out)
    assert_silent_after(out)


def test_a_completed_count_is_shown_complete_with_no_ending_note():
    console, out = terminal()
    with count_bar("traffic", 5, console) as progress:
        for done in range(1, 6):
            progress(done, 5)
    frame = last_frame(out)
    assert "5/5" in frame and "ended at" not in frame and "interrupted" not in frame
    assert_silent_after(out)


def test_a_count_that_ends_short_says_where():
    console, out = terminal()
    with count_bar("traffic", 5, console) as progress:
        progress(2, 5)
    assert "ended at 2 of 5" in last_frame(out)
    assert_silent_after(out)
