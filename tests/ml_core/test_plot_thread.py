"""Drift plots drawn from many short-lived threads (as triage's graph nodes run) keep one set of font files open."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from ml_core.monitoring.evidently_report import plot_feature


def _draw_on_a_new_thread(path: Path) -> None:
    ref = pd.Series(np.random.default_rng(0).normal(size=300))
    t = threading.Thread(target=plot_feature, args=(ref, ref + 0.5, path, "total_day_minutes"))
    t.start()
    t.join()
    assert path.stat().st_size > 0


def test_plots_from_new_threads_do_not_open_more_files(tmp_path: Path) -> None:
    _draw_on_a_new_thread(tmp_path / "first.png")  # loads matplotlib and its fonts once
    before = len(os.listdir("/proc/self/fd"))
    for i in range(6):
        _draw_on_a_new_thread(tmp_path / f"{i}.png")
    assert len(os.listdir("/proc/self/fd")) <= before
