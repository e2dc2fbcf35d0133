"""Benchmark: one monitoring check (``ml_core.watch.check_window``) over windows of 10k / 100k / 1M predictions —
seconds and peak memory — with the column-wise log, and the old JSON row path as a peer at the smaller sizes.

    python -m evals.bench_window [--sizes 10000 100000 1000000] [--peer-sizes 10000 100000] [--epochs 2]

One home gets churn trained and registered as champion. For each size the log is filled with that many quiet
predictions over the last hour (rows of churn's table drawn with replacement, scored by the champion, half of
them labelled), written in requests of 50,000 rows and sealed as a serving day would be (the seal time is
printed: it is paid once per row, spread over the ticks that see the rows arrive). The check runs in a fresh
subprocess per size, so its peak resident memory (``VmHWM``, the high-water mark of its own address space;
``getrusage``'s max RSS would carry the parent's over ``exec``) is its own; "base" is that process's
peak before the check (Python, torch, the champion, its reference and profiles loaded, as a tick of
``opsagent serve`` finds them cached), "peak" after it. The peer reads
the same rows from a log that was never sealed, parsing each row's JSON features as the log did before Step 8.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.predlog_segments import segment_dir
from ml_core.registry import CHAMPION, Registry
from ml_core.spec.builtin import BUILTIN_SPECS
from ml_core.spec.data import load_spec_data

BATCH = 50_000


def fill_log(layout: HomeLayout, model: str, size: int, now: float, seal: bool) -> float:
    """Write ``size`` quiet predictions of churn into ``model``'s log (sealed as they come when ``seal``); the
    seconds spent sealing."""
    spec = BUILTIN_SPECS["churn"]()
    registry = Registry(layout)
    live = registry.alias("churn", CHAMPION)
    assert live is not None, "the home was made with a champion"
    version = live.version
    champion = registry.load("churn", version)
    data = load_spec_data(spec)
    rng = np.random.default_rng(size)
    path = layout.predictions_db(model)
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(segment_dir(path), ignore_errors=True)
    ts = np.sort(now - 3600 + 3600 * rng.random(size))
    sealing = 0.0
    with PredictionLog(path) as log:
        for start in range(0, size, BATCH):
            n = min(BATCH, size - start)
            rows = data.iloc[rng.integers(0, len(data), n)].reset_index(drop=True)
            scores = champion.predict_proba(rows)
            feats = rows[spec.schema.feature_names].to_dict("records")
            log.write_predictions([PredictionRow(f"q{start + i}", f"r{start + i}", float(ts[start + i]), model,
                                                 version, "champion", None, None, float(scores[i]),
                                                 int(scores[i] >= champion.threshold), 12.0, feats[i])
                                   for i in range(n)])
            actual = spec.schema.labels_to_int(rows[spec.schema.label]).to_numpy()
            log.write_labels([(f"r{start + i}", int(actual[i])) for i in range(0, n, 2)])
            if seal:
                t = time.perf_counter()
                log.seal()
                sealing += time.perf_counter() - t
    return sealing


def child(home: str, model: str, since: float, until: float, row_only: bool) -> None:
    """In a fresh process: load the champion's reference, then time one check; print seconds and peak RSS."""
    warnings.filterwarnings("ignore")
    from ml_core import predlog
    from ml_core.watch import check_window, load_reference, monitoring_profiles

    if row_only:  # the peer: the log as it was, every window parsed from SQLite's JSON rows
        predlog.PredictionLog.seal = lambda self, min_rows=0: 0  # type: ignore[method-assign]
    layout = HomeLayout(Path(home))
    registry = Registry(layout)
    schema = BUILTIN_SPECS["churn"]().schema
    reference = load_reference(registry, "churn", schema)
    monitoring_profiles(reference, schema)  # as a scheduled tick finds them: cached with the champion
    base = peak_rss_mb()
    t = time.perf_counter()
    watched = check_window(layout, registry, model, since=since, until=until, reference=reference,
                           write_report=False, schema=schema)
    seconds = time.perf_counter() - t
    peak = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "base_mb": base, "peak_mb": peak, "rows": watched.result.n_rows,
                      "status": watched.result.status}))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (Linux ``VmHWM``; ``getrusage`` elsewhere)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(layout: HomeLayout, model: str, now: float, row_only: bool) -> dict:
    cmd = [sys.executable, "-m", "evals.bench_window", "--child", str(layout.home), model, str(now - 3601),
           str(now + 1)] + (["--row-only"] if row_only else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--peer-sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--child", nargs=4, metavar=("HOME", "MODEL", "SINCE", "UNTIL"))
    ap.add_argument("--row-only", action="store_true")
    args = ap.parse_args(argv)
    if args.child:
        home, model, since, until = args.child
        child(home, model, float(since), float(until), args.row_only)
        return 0
    warnings.filterwarnings("ignore")
    from evals.bench_tick import train_champion

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        layout = train_champion(Path(tmp), args.epochs)
        print(f"{'predictions':>12} {'log':>10} {'check s':>8} {'base MB':>8} {'peak MB':>8} {'seal s':>7}")
        for size in sorted(set(args.sizes) | set(args.peer_sizes)):
            now = time.time()
            for row_only in (False, True):
                if (size in args.peer_sizes) if row_only else (size in args.sizes):
                    sealing = fill_log(layout, "churn", size, now, seal=not row_only)
                    got = measure(layout, "churn", now, row_only)
                    assert got["rows"] == size, got
                    ok &= row_only or (got["seconds"] <= 10 and got["peak_mb"] <= 1024)
                    print(f"{size:>12} {'json rows' if row_only else 'columns':>10} {got['seconds']:>8.2f} "
                          f"{got['base_mb']:>8.0f} {got['peak_mb']:>8.0f} "
                          f"{'-' if row_only else f'{sealing:.1f}':>7}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
