"""Per-epoch metrics to MLflow in batches: every epoch is logged, but one write per few epochs.

A SQLite write per epoch costs about as much as the validation pass; batching keeps the training
loop's overhead over a plain PyTorch loop small (see evals/bench_training.py).
"""

from __future__ import annotations

import time

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient


class EpochLogger:
    """Callable as a training ``on_epoch`` callback; call :meth:`flush` when training ends."""

    def __init__(self, client: MlflowClient, run_id: str, every: int = 5):
        self.client, self.run_id, self.every = client, run_id, max(1, every)
        self._pending: list[Metric] = []
        self._epochs = 0

    def __call__(self, epoch: int, _total: int, row: dict[str, float]) -> None:
        ts = int(time.time() * 1000)
        self._pending += [Metric(k, float(v), ts, epoch) for k, v in row.items() if k != "epoch"]
        self._epochs += 1
        if self._epochs % self.every == 0:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self.client.log_batch(self.run_id, metrics=self._pending, synchronous=True)
            self._pending = []
