"""Benchmark: what tracing costs a triage — the same scheduled triage of a quiet window with tracing on
(the default: one MLflow trace per run, written to the home's SQLite store) and off (``OPSAGENT_TRACING=off``).

    python -m evals.bench_tracing [--predictions 1000] [--ticks 7] [--epochs 3]

The home is ``evals.bench_tick``'s: churn's champion and ``--predictions`` quiet labelled predictions. Each tick
is the whole ``GraphRunner.triage`` with the offline brain; the two sides alternate in this one process so the
machine's load hits both alike, the first tick of each is a warm-up, and medians of the rest are printed. MLflow
writes a trace on a background thread when the run ends; the time to flush it (``export``) is measured apart,
after the tick's clock stops, since a run does not wait for it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from evals.bench_tick import quiet_home
from ml_core.paths import HomeLayout


def one_tick(layout: HomeLayout, traced: bool) -> tuple[float, float, int]:
    """Seconds for one whole triage, seconds to flush its trace to the store, and the trace's span count."""
    import mlflow

    from agent.context import OpsContext
    from agent.settings import Settings
    from graphs.runner import GraphRunner

    ctx = OpsContext(Settings(home=layout.home, tracing=traced), via="bench", actor="bench")
    t = time.perf_counter()
    with GraphRunner(ctx) as runner:
        out = runner.triage("churn", window_minutes=60)
    seconds = time.perf_counter() - t
    t = time.perf_counter()
    mlflow.flush_trace_async_logging()
    export = time.perf_counter() - t
    spans = 0
    if out.trace_id:
        trace = mlflow.MlflowClient(ctx.settings.tracking_uri).get_trace(out.trace_id)
        spans = len(trace.data.spans)
    ctx.close()
    return seconds, export, spans


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--predictions", type=int, default=1000)
    ap.add_argument("--ticks", type=int, default=7, help="ticks per side, the first a warm-up")
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        layout = quiet_home(Path(tmp), args.predictions, args.epochs)
        times: dict[bool, list[float]] = {True: [], False: []}
        exports: list[float] = []
        spans = 0
        for _ in range(max(2, args.ticks)):
            for traced in (False, True):
                seconds, export, n = one_tick(layout, traced)
                times[traced].append(seconds)
                if traced:
                    exports.append(export)
                    spans = n
    on, off = statistics.median(times[True][1:]), statistics.median(times[False][1:])
    print(f"triage of a quiet window, {args.predictions} predictions, median of {len(times[True]) - 1} ticks a side")
    print(f"  tracing off: {off:.3f} s   (all: {', '.join(f'{t:.2f}' for t in times[False])})")
    print(f"  tracing on:  {on:.3f} s   (all: {', '.join(f'{t:.2f}' for t in times[True])})")
    print(f"  overhead:    {1000 * (on - off):+.0f} ms ({(on - off) / off:+.1%}); trace of {spans} spans, "
          f"flushed to the store in a median {1000 * statistics.median(exports[1:]):.0f} ms after the run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
