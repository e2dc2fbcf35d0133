"""Benchmark: Evidently's DataDriftPreset vs the fast drift screen, same verdicts required.

    python -m evals.bench_drift [--rows 100000 1000000] [--features 20] [--evidently-repeats 1]

Synthetic reference/current frames (3/4 numerical, 1/4 categorical; a third of the columns drifted)
are checked by Evidently (``Report.run`` only, no HTML), by the screen including the reference profile
build, and by the screen with a precomputed profile (the scheduled-check case).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pandas as pd

from ml_core.monitoring.drift_screen import build_profile, screen
from ml_core.monitoring.evidently_report import run_evidently_drift, verdicts_from_snapshot

T = TypeVar("T")


def synthetic_frames(rows: int, features: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    ref, cur, kinds = {}, {}, {}
    for j in range(features):
        name = f"f{j:02d}"
        drifted = j % 3 == 0
        if j % 4 == 3:
            cats = np.array([f"c{k}" for k in range(8)])
            p = rng.dirichlet(np.ones(8))
            q = rng.dirichlet(np.ones(8)) if drifted else p
            ref[name], cur[name] = rng.choice(cats, rows, p=p), rng.choice(cats, rows, p=q)
            kinds[name] = "categorical"
        else:
            ref[name] = rng.normal(0, 1, rows)
            cur[name] = rng.normal(0.3 if drifted else 0.0, 1, rows)
            kinds[name] = "numerical"
    return pd.DataFrame(ref), pd.DataFrame(cur), kinds


def _time(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """The best of ``repeats`` timings of ``fn`` (at least one), and its last result."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_one(rows: int, features: int, evidently_repeats: int, screen_repeats: int) -> bool:
    """Time one size, print its table row, and say whether the verdicts and tests agree."""
    ref, cur, kinds = synthetic_frames(rows, features)
    t_ev, snap = _time(lambda: run_evidently_drift(ref, cur, kinds=kinds), evidently_repeats)
    ev = verdicts_from_snapshot(snap, ref, cur, kinds=kinds)
    t_full, _ = _time(lambda: screen(build_profile(ref, kinds=kinds), cur), screen_repeats)
    profile = build_profile(ref, kinds=kinds)
    t_check, fast = _time(lambda: screen(profile, cur), screen_repeats)
    tests = {f.name: f.test for f in ev.features} == {f.name: f.test for f in fast.features}
    same = tests and fast.verdicts() == ev.verdicts()
    print(f"{rows:>9} {features:>4} {t_ev:>12.2f} {t_full:>17.3f} {t_check:>9.3f} {t_ev / t_full:>17.1f} "
          f"{t_ev / t_check:>16.1f} {fast.n_drifted:>8} {'same' if same else 'DIFFER':>9}", flush=True)
    return same


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--evidently-repeats", type=int, default=1)
    ap.add_argument("--screen-repeats", type=int, default=3)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    header = (f"{'rows':>9} {'feat':>4} {'evidently s':>12} {'screen+profile s':>17} {'screen s':>9} "
              f"{'x (with profile)':>17} {'x (precomputed)':>16} {'drifted':>8} {'verdicts':>9}")
    print(header)
    ok = True
    for rows in args.rows:
        ok &= bench_one(rows, args.features, args.evidently_repeats, args.screen_repeats)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
