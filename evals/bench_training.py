"""Training throughput: our train_model loop (validation every epoch, early-stopping bookkeeping,
per-epoch MLflow logging as `opsagent train` does it) against a bare PyTorch loop over the same
network, tensors and batches.

    python -m evals.bench_training --epochs 20 --repeats 5

Early stopping is disabled (patience = epochs) so both loops run the same number of epochs; the runs
alternate so background load hits both alike, and the table reports medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.tracking import MlflowClient
from torch import nn

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.data.tables import Split, split_frame
from ml_core.epoch_log import EpochLogger
from ml_core.features import Preprocessor
from ml_core.model import build_net
from ml_core.training import TrainConfig, cpu_threads, resolve_device, seed_everything, train_model


def plain_loop(split: Split, config: TrainConfig) -> float:
    """The same model, loss, optimiser, schedule and batches, with nothing else; returns seconds."""
    device = resolve_device(config.device)
    with cpu_threads(device, config.cpu_threads):
        return _plain(split, config, device)


def _plain(split: Split, config: TrainConfig, device: torch.device) -> float:
    seed_everything(config.seed, device)
    pre = Preprocessor.fit(split.train, CHURN_SCHEMA, n_bins=config.n_bins, exclude=config.exclude_columns)
    x = torch.from_numpy(pre.transform(split.train)).to(device)
    y = torch.from_numpy(CHURN_SCHEMA.labels_to_int(split.train[CHURN_SCHEMA.label]).to_numpy()
                         .astype(np.float32)).to(device)
    net = build_net(pre.n_features, hidden=config.hidden, depth=config.depth, dropout=config.dropout,
                    members=config.members).to(device)
    pos = float(y.sum())
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(y) - pos) / pos, device=device))
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    forward = getattr(net, "member_logits", net)
    gen = torch.Generator().manual_seed(config.seed)
    amp = device.type == "cuda"
    start = time.perf_counter()
    for _ in range(config.epochs):
        net.train()
        order = torch.randperm(len(x), generator=gen).to(device)
        for i in range(0, len(x), config.batch_size):
            idx = order[i:i + config.batch_size]
            if len(idx) < 2:
                continue
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                z = forward(x[idx]).float()
            loss = loss_fn(z, y[idx].expand_as(z))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def ours_unlogged(split: Split, config: TrainConfig) -> float:
    """train_model with no callback: validation and early-stopping bookkeeping only; returns loop seconds."""
    return train_model(split, config, CHURN_SCHEMA).seconds


def ours(split: Split, config: TrainConfig, tracking_dir: Path, batched: bool) -> float:
    """train_model inside an MLflow run on SQLite, every epoch's metrics logged; returns loop seconds
    plus the time of the final flush. ``batched`` is what ``opsagent train`` does (EpochLogger); the
    other mode writes each epoch as it ends."""
    mlflow.set_tracking_uri(f"sqlite:///{tracking_dir / 'mlflow.db'}")
    mlflow.set_experiment("bench-training")
    with mlflow.start_run() as run:
        logger = EpochLogger(MlflowClient(), run.info.run_id, every=5 if batched else 1)
        result = train_model(split, config, CHURN_SCHEMA, on_epoch=logger)
        t0 = time.perf_counter()
        logger.flush()
        flush = time.perf_counter() - t0
    assert len(result.history) == config.epochs, "early stopping must be off for a fair comparison"
    return result.seconds + flush


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)

    split = split_frame(load_churn(), CHURN_SCHEMA, seed=7)
    config = TrainConfig(epochs=args.epochs, patience=args.epochs, device=args.device)
    samples = len(split.train) * args.epochs
    times: dict[str, list[float]] = {"plain": [], "ours (no log)": [], "ours (log every epoch)": [],
                                     "ours (batched log)": []}
    with tempfile.TemporaryDirectory() as tmp:
        ours(split, config.model_copy(update={"epochs": 1, "patience": 1}), Path(tmp), False)  # warm-up
        plain_loop(split, config.model_copy(update={"epochs": 1}))
        for _ in range(args.repeats):
            times["plain"].append(plain_loop(split, config))
            times["ours (no log)"].append(ours_unlogged(split, config))
            times["ours (log every epoch)"].append(ours(split, config, Path(tmp), batched=False))
            times["ours (batched log)"].append(ours(split, config, Path(tmp), batched=True))

    base = statistics.median(times["plain"])
    best = min(times["plain"])
    print(f"device={resolve_device(args.device).type} cpu_threads={config.cpu_threads} epochs={args.epochs} "
          f"repeats={args.repeats} train_rows={len(split.train)} batch={config.batch_size} "
          f"members={config.members}")
    # The minimum is the run least disturbed by other processes; the median shows the spread's middle.
    print(f"{'loop':<24} {'median s':>9} {'samples/s':>11} {'overhead':>9} {'min s':>8} {'overhead(min)':>14}")
    for name, ts in times.items():
        med, low = statistics.median(ts), min(ts)
        print(f"{name:<24} {med:>9.3f} {samples / med:>11,.0f} {100 * (med - base) / base:>8.1f}% "
              f"{low:>8.3f} {100 * (low - best) / best:>13.1f}%")


if __name__ == "__main__":
    main()
