"""The prediction log's write path, raw sqlite3 (before the store module) vs SQLAlchemy Core (now).

    python -m evals.bench_predlog [--writes 2000] [--rows 10] [--rounds 3] [--rev 15b9f1a]

The scoring service writes every request's rows in one transaction before it answers, so a slower write
is added to every request's latency. The old ``PredictionLog`` is read from git (``--rev``, the last
commit with the raw-sqlite log) and both write ``--writes`` requests of ``--rows`` rows to fresh files in
the same temporary folder, alternating, ``--rounds`` times; the best round of each is compared.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

from ml_core.predlog import PredictionLog, PredictionRow

OLD_REV = "15b9f1a"  # the last commit whose ml_core/predlog.py opened SQLite by hand


def old_module(rev: str) -> types.ModuleType:
    """The ``ml_core.predlog`` module as it was at ``rev``."""
    source = subprocess.run(["git", "show", f"{rev}:ml_core/predlog.py"], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    module = types.ModuleType("old_predlog")
    sys.modules[module.__name__] = module  # dataclasses look their module up while building the class
    exec(compile(source, "old_predlog.py", "exec"), module.__dict__)  # noqa: S102 - our own file at a known commit
    return module


def requests(row_type: Any, writes: int, rows: int) -> list[list[Any]]:
    """``writes`` requests of ``rows`` predictions each, shaped like the service's rows."""
    features = {"state": "CA", "account_length": 120, "total_day_minutes": 180.5, "voice_mail_plan": "no"}
    return [[row_type(f"req-{w}", f"rec-{w}-{i}", 1_700_000_000.0 + w, "churn", "3", "champion", None, None,
                      0.42, 0, 3.1, features) for i in range(rows)] for w in range(writes)]


def seconds_per_write(log: Any, batch: list[list[Any]]) -> float:
    start = time.perf_counter()
    for rows in batch:
        log.write_predictions(rows)
    elapsed = (time.perf_counter() - start) / len(batch)
    log.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rev", default=OLD_REV)
    args = parser.parse_args()
    old = old_module(args.rev)
    old_batch, new_batch = requests(old.PredictionRow, args.writes, args.rows), requests(PredictionRow, args.writes,
                                                                                       args.rows)
    best = {"old": float("inf"), "new": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            best["old"] = min(best["old"], seconds_per_write(old.PredictionLog(Path(tmp) / f"old{r}.db"), old_batch))
            best["new"] = min(best["new"], seconds_per_write(PredictionLog(Path(tmp) / f"new{r}.db"), new_batch))
    print(f"{args.writes} writes of {args.rows} rows, best of {args.rounds}: "
          f"raw sqlite3 {best['old'] * 1e6:.0f} µs/write, SQLAlchemy Core {best['new'] * 1e6:.0f} µs/write, "
          f"new/old {best['new'] / best['old']:.2f}x")


if __name__ == "__main__":
    main()
