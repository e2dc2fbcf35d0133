"""One DDP rank's view of training: its shard of rows per epoch, gradients all-reduced by DistributedDataParallel.

Why a DDP run lands within a tolerance of the one-process run with the same seed, not on it:
- every rank holds the same parameters (DDP broadcasts rank 0's at wrap time, then every step applies the same
  averaged gradient), and each rank trains on ``batch_size // world`` rows, so a step averages the gradient of
  ``batch_size`` rows in all — the same batch size, learning rate, schedule and steps per epoch as one process;
- DistributedSampler deals each epoch's seeded permutation out to the ranks, so every epoch still visits every
  training row once (a few repeated to even the shards);
- what differs is which rows share a batch (another permutation), BatchNorm statistics taken over the rank's
  rows instead of the whole batch, and the dropout masks. That is the kind of difference a change of seed makes,
  so the DDP run is one more draw from the single-process run's seed-to-seed spread (the tolerance: see
  tests/ml_core/test_distributed.py).
Validation runs on every rank (it is cheap) but rank 0's loss is shared and used by all: the early-stopping
decision must be the same everywhere, or one rank would stop while the others wait in an all-reduce. With it
each epoch checks that the replicas still hold the same weights (``replicas_in_sync``).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler

from ml_core.training import EpochPlan, PlanFactory, TrainConfig

# A rank waits this long for the others in a collective. Rank 0 logs to MLflow and the others wait for it at the
# next all-reduce; a SQLite write takes milliseconds, a slow tracking server seconds: ten minutes is only ever
# reached by a rank that is gone, and torchrun ends the job first when a process dies.
COLLECTIVE_TIMEOUT = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class Rank:
    """This process's place in the job, from the variables torchrun sets."""

    rank: int
    world: int
    local_rank: int

    @classmethod
    def from_env(cls) -> Rank:
        return cls(int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1")),
                   int(os.environ.get("LOCAL_RANK", "0")))


def rank_device(config: TrainConfig, rank: Rank) -> str:
    """The device this rank trains on: its own GPU (``cuda:<local rank>``) when CUDA is asked for or available,
    else the CPU."""
    wants_cuda = config.device.startswith("cuda") or (config.device == "auto" and torch.cuda.is_available())
    return f"cuda:{rank.local_rank}" if wants_cuda else "cpu"


@contextmanager
def process_group(device: str) -> Iterator[None]:
    """NCCL between GPUs, gloo between CPU processes; the rendezvous comes from torchrun's environment."""
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(torch.device(device))
    dist.init_process_group(backend=backend, timeout=COLLECTIVE_TIMEOUT)
    try:
        yield
    finally:
        dist.destroy_process_group()


class _Rows(Dataset[int]):
    """Row indices 0..n-1: what DistributedSampler deals out (the tensors themselves stay on the device)."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class _MemberLogits(nn.Module):
    """Routes DDP's forward to ``member_logits``: a method called past the DDP wrapper would skip its
    gradient-sync bookkeeping, so the ensemble's per-member loss must come through ``forward``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.member_logits(x)  # type: ignore[operator]


# Replicas apply the same all-reduced gradient to the same weights, so their weights agree to float rounding (the
# all-reduce may sum in a different order on each rank: ~1e-7 relative in float32). Unsynchronised replicas,
# trained on different rows, differ by orders of magnitude more after one epoch.
SYNC_RTOL = 1e-5


def weights_checksum(net: nn.Module) -> float:
    """The sum of squares of every parameter, in float64 (no cancellation): equal on replicas with the same weights."""
    with torch.no_grad():
        return float(sum(p.detach().double().pow(2).sum() for p in net.parameters()))


def replicas_in_sync(checksums: list[float]) -> bool:
    """Whether every rank's weight checksum matches rank 0's within ``SYNC_RTOL`` (of the weights' scale)."""
    scale = max(1.0, abs(checksums[0]))
    return all(abs(c - checksums[0]) <= SYNC_RTOL * scale for c in checksums)


def ddp_plan(rank: Rank) -> PlanFactory:
    """The ``train_model`` plan of one rank (call inside ``process_group``)."""

    def factory(net: nn.Module, n_rows: int, config: TrainConfig, device: torch.device) -> EpochPlan:
        module = _MemberLogits(net) if hasattr(net, "member_logits") else net
        wrapped = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
        sampler: DistributedSampler[int] = DistributedSampler(_Rows(n_rows), num_replicas=rank.world,
                                                              rank=rank.rank, shuffle=True, seed=config.seed)

        def order(epoch: int) -> torch.Tensor:
            sampler.set_epoch(epoch)
            return torch.tensor(list(sampler), dtype=torch.long, device=device)

        def total_loss(total: torch.Tensor) -> torch.Tensor:
            summed = total.clone()
            dist.all_reduce(summed)
            return summed

        def agree(val_loss: float) -> float:
            # One all-gather per epoch carries each rank's validation loss and a checksum of its weights: every
            # rank acts on rank 0's loss, and a replica that drifted from rank 0's stops the job here.
            mine = torch.tensor([val_loss, weights_checksum(net)], dtype=torch.float64, device=device)
            every = [torch.zeros_like(mine) for _ in range(rank.world)]
            dist.all_gather(every, mine)
            sums = [float(t[1]) for t in every]
            if not replicas_in_sync(sums):
                raise RuntimeError(f"DDP replicas diverged: weight checksums per rank {sums}; the gradients were "
                                   "not all-reduced alike, so no model of this run can be trusted")
            return float(every[0][0])

        return EpochPlan(forward=wrapped, order=order, batch_size=max(2, config.batch_size // rank.world),
                         rows=sampler.total_size, total_loss=total_loss, agree=agree)

    return factory
