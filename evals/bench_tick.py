"""Benchmark: one scheduled triage of a quiet window — today's tick (report always written, nothing cached) vs
the new quiet tick (fast screen first, the Evidently report only for a window with findings, the per-version
reference work cached).

    python -m evals.bench_tick [--predictions 1000] [--ticks 5] [--epochs 3]

A fresh home gets churn trained and registered as champion (a few epochs: the tick's cost does not depend on
how well the model learned), then ``--predictions`` quiet predictions over the last half hour: held-out rows
scored by the champion itself, every one labelled. Each tick is the whole ``GraphRunner.triage`` with the
offline brain. Both sides run in this one process, alternating, so the machine's load hits both alike; the
first tick of each side is a warm-up (imports, the first MLflow read) and the median of the others is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ml_core.data.tables import split_frame
from ml_core.jobs import train_and_register
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.registry import CHAMPION, Registry
from ml_core.spec.builtin import BUILTIN_SPECS
from ml_core.spec.data import load_spec_data
from ml_core.training import TrainConfig


def train_champion(root: Path, epochs: int) -> HomeLayout:
    """A home whose registry holds churn trained for ``epochs``, champion and ready."""
    spec = BUILTIN_SPECS["churn"]()
    layout = HomeLayout(root).ensure()
    registry = Registry(layout)
    job = train_and_register(registry, load_spec_data(spec), TrainConfig(epochs=epochs, exclude_columns=("state",)),
                             model_name="churn", schema=spec.schema, with_baseline=False)
    registry.set_alias("churn", CHAMPION, job.version)
    registry.mark_ready("churn", job.version)
    return layout


def quiet_home(root: Path, predictions: int, epochs: int) -> HomeLayout:
    """A home with churn's champion and ``predictions`` quiet, labelled predictions in the last 30 minutes."""
    spec = BUILTIN_SPECS["churn"]()
    layout = train_champion(root, epochs)
    registry = Registry(layout)
    data = load_spec_data(spec)
    champion = registry.alias("churn", CHAMPION)
    assert champion is not None, "the home was made with a champion"
    version = champion.version
    model = registry.load("churn", version)
    held_out = split_frame(data, spec.schema).test
    rows = held_out.sample(predictions, replace=True, random_state=0).reset_index(drop=True)
    scores = model.predict_proba(rows)
    actual = spec.schema.labels_to_int(rows[spec.schema.label]).to_numpy()
    features = rows[spec.schema.feature_names].to_dict("records")
    now = time.time()
    ts = np.sort(now - 1800 + 1800 * np.random.default_rng(0).random(predictions))
    log_rows = [PredictionRow(f"q{i}", f"r{i}", float(ts[i]), "churn", version, "champion", None, None,
                              float(scores[i]), int(scores[i] >= model.threshold), 12.0, features[i])
                for i in range(predictions)]
    with PredictionLog(layout.predictions_db("churn")) as log:
        log.write_predictions(log_rows)
        log.write_labels([(f"r{i}", int(y)) for i, y in enumerate(actual)])
    return layout


@contextlib.contextmanager
def todays_tick() -> Iterator[None]:
    """Today's tick: the scheduled triage writes the Evidently report whatever it found, and nothing derived from
    the champion's version is kept between ticks."""
    from graphs import signals
    from ml_core import version_cache

    before = signals.SCHEDULED_REPORT
    signals.SCHEDULED_REPORT = True
    version_cache.clear_all()
    with version_cache.disabled():
        try:
            yield
        finally:
            signals.SCHEDULED_REPORT = before


def one_tick(layout: HomeLayout, today: bool) -> tuple[float, str, bool]:
    """Seconds for one whole triage, its summary's first line, and whether it wrote a drift report."""
    from agent.context import OpsContext
    from agent.settings import Settings
    from graphs.runner import GraphRunner

    ctx = OpsContext(Settings(home=layout.home), via="bench", actor="bench")
    with todays_tick() if today else contextlib.nullcontext():
        started = time.time()
        t = time.perf_counter()
        with GraphRunner(ctx) as runner:
            out = runner.triage("churn", window_minutes=60)
        seconds = time.perf_counter() - t
        wrote = any(p.stat().st_mtime >= started for p in layout.reports_dir.rglob("*"))
    ctx.close()
    return seconds, out.summary.splitlines()[0], wrote


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predictions", type=int, default=1000)
    ap.add_argument("--ticks", type=int, default=5, help="ticks per side, the first a warm-up")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        layout = quiet_home(Path(tmp), args.predictions, args.epochs)
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(max(2, args.ticks)):
            for today in (True, False):
                seconds, summary, wrote = one_tick(layout, today)
                times[today].append(seconds)
                side = "today's tick" if today else "quiet tick  "
                print(f"{side} {seconds:6.2f} s  report {'written' if wrote else 'skipped'}  {summary}", flush=True)
    before, after = (statistics.median(times[side][1:]) for side in (True, False))
    print(f"\n{args.predictions} quiet predictions, median of {len(times[True]) - 1} ticks after a warm-up:")
    print(f"today's tick {before:.2f} s   quiet tick {after:.2f} s   ratio {before / after:.1f}x")
    return 0 if after <= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
