"""DDP scaling: training throughput of 1 process against N (torchrun) on a large synthetic table from a spec.

    python -m evals.bench_ddp --rows 1000000 --epochs 2              # CPU: 1 vs 2 processes (gloo)
    python -m evals.bench_ddp --rows 1000000 --epochs 2 --device cuda  # GPU: 1 vs every visible GPU (NCCL)

Each run is the real path, ``train_and_register_nproc`` (MLflow on SQLite in a temporary home, no baseline): one
process in this one, N through ``python -m torch.distributed.run``. Reported per run: the training loop's rows/s
(training rows x epochs / loop seconds, on rank 0, which waits for the others at every all-reduce: the
throughput of all processes together) and the wall seconds of the whole job (process start-up, data hand-over,
evaluation, logging and registration included). The scaling ratio is loop rows/s of N over 1.

The table: the spec's own data resampled to ``--rows`` rows (``ml_core.simulator``'s sampling: every customer
once before any twice), numeric features jittered by 5% of their spread within the schema's range, each copy
with the id ``<customer>~syn<n>``, so the split keeps every customer's copies on one side (no near-duplicate of a
training row in the test split). Early stopping is off (patience = epochs) so every run does the same work.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ml_core.data.schema import TableSchema
from ml_core.distributed import train_and_register_nproc
from ml_core.paths import HomeLayout
from ml_core.registry import Registry
from ml_core.simulator.faults import sample_customers
from ml_core.spec.builtin import builtin_spec
from ml_core.spec.data import load_spec_data
from ml_core.training import TrainConfig

JITTER = 0.05  # of each numeric column's std: rows stop being exact copies; the table keeps its relations


def synthetic_table(pool: pd.DataFrame, schema: TableSchema, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` rows drawn from ``pool`` with numeric jitter and unique ids (see the module docstring)."""
    rng = np.random.default_rng(seed)
    table = sample_customers(pool, rows, rng, None, False, schema)
    for column in schema.columns:
        if column.kind != "numeric":
            continue
        values = table[column.name].to_numpy(dtype=float)
        values = values + rng.normal(0.0, JITTER * np.nanstd(values), len(values))
        table[column.name] = np.clip(values, column.low, column.high)
    if schema.id_column:  # "<customer>~<n>": split_frame keeps a customer's copies on one side of the split
        table[schema.id_column] = [f"{c}~syn{i}" for i, c in enumerate(table[schema.id_column].astype(str))]
    return table


def run_once(table: pd.DataFrame, schema: TableSchema, config: TrainConfig, nproc: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-ddp-") as home:
        registry = Registry(HomeLayout(Path(home)))
        start = time.perf_counter()
        job = train_and_register_nproc(registry, table, config, nproc=nproc, model_name="bench", schema=schema,
                                       with_baseline=False)
        wall = time.perf_counter() - start
    return {"nproc": nproc, "rows_per_s": job.train.samples_per_second, "loop_s": job.train.seconds,
            "wall_s": wall, "test_auc": job.test_metrics["auc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="churn")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--nproc", type=int, default=0, help="processes to compare with 1; default: 2 on CPU, "
                        "every visible GPU on cuda")
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    spec = builtin_spec(args.spec)
    if spec is None:
        parser.error(f"no built-in spec '{args.spec}'; use churn or credit")
    table = synthetic_table(load_spec_data(spec), spec.schema, args.rows, seed=0)
    many = args.nproc or (torch.cuda.device_count() if args.device == "cuda" else 2)
    config = TrainConfig(epochs=args.epochs, patience=args.epochs, batch_size=args.batch_size, device=args.device,
                         exclude_columns=tuple(spec.exclude_from_training))
    load_before = os.getloadavg()
    results = [run_once(table, spec.schema, config, n) for n in dict.fromkeys((1, many))]
    load_after = os.getloadavg()
    print(f"{args.spec}: {len(table):,} rows, {args.epochs} epochs, batch {args.batch_size}, {args.device}; "
          f"{os.cpu_count()} CPU cores; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after")
    print(f"{'processes':>9} {'loop rows/s':>12} {'loop s':>8} {'wall s':>8} {'test AUC':>9}")
    for r in results:
        print(f"{r['nproc']:>9} {r['rows_per_s']:>12,.0f} {r['loop_s']:>8.1f} {r['wall_s']:>8.1f} "
              f"{r['test_auc']:>9.4f}")
    print(f"scaling ratio ({results[-1]['nproc']} vs 1 processes, loop rows/s): "
          f"{results[-1]['rows_per_s'] / results[0]['rows_per_s']:.2f}")


if __name__ == "__main__":
    main()
