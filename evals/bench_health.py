"""How long the health history of a large prediction log takes, and how much memory: `python -m evals.bench_health`.

Writes ROWS churn predictions spread over one day into a fresh log (sealed into Parquet segments, as a busy
model's log is), then, in a new process so its peak memory is the read's alone, charts it in 24 buckets
against a 3,000-row reference and prints the time and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.spec.builtin import BUILTIN_SPECS
from ml_core.spec.data import load_spec_data

SPEC = BUILTIN_SPECS["churn"]()  # the demo's model, read as any watched model's spec

UNTIL = 1_800_000_000.0
SINCE = UNTIL - 86_400
BATCH = 20_000


def write(path: Path, rows: int) -> None:
    """``rows`` predictions of churn rows (sampled with replacement), evenly over the day, half labelled."""
    features = load_spec_data(SPEC)[list(SPEC.schema.feature_names)]
    with PredictionLog(path) as log:
        for start in range(0, rows, BATCH):
            n = min(BATCH, rows - start)
            feats = features.sample(n, replace=True, random_state=start).to_dict("records")
            ts = SINCE + (start + np.arange(n)) * 86_400 / rows
            log.write_predictions([PredictionRow(f"q{start + i}", f"r{start + i}", float(ts[i]), "churn", "1",
                                                 "champion", None, None, 0.3, 0, 10.0, feats[i]) for i in range(n)])
            log.write_labels([(f"r{start + i}", int(i % 3 == 0)) for i in range(0, n, 2)])
        log.seal()


def read(path: Path) -> None:
    from ml_core.monitoring.columns import checked_columns
    from ml_core.monitoring.drift_screen import build_profile
    from ml_core.monitoring.history import health_history

    reference = load_spec_data(SPEC).sample(3000, random_state=1)
    columns, kinds = checked_columns(reference, reference, SPEC.schema, None, None)
    profile = build_profile(reference, columns, kinds)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with PredictionLog(path) as log:
        t = time.perf_counter()
        h = health_history(log, "churn", since=SINCE, until=UNTIL, buckets=24, profile=profile)
        elapsed = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"health_history: {h.rows:,} predictions ({h.labelled:,} labelled), 24 buckets: {elapsed:.1f} s, "
          f"peak RSS {peak:.0f} MB ({before:.0f} MB before the call)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=240_000, help="predictions in the log (default 240,000)")
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)  # the measuring child process
    args = parser.parse_args()
    if args.read:
        read(args.read)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "churn.db"
        t = time.perf_counter()
        write(path, args.rows)
        print(f"wrote {args.rows:,} predictions in {time.perf_counter() - t:.0f} s")
        subprocess.run([sys.executable, "-m", "evals.bench_health", "--read", str(path)], check=True)


if __name__ == "__main__":
    main()
