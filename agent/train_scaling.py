"""How a retrain's wall time and cost change with its processes (``nodes`` pods x ``nproc`` each).

A stated assumption, not a measurement: DDP gives each of P processes 1/P of every epoch's rows, but every step
waits on an all-reduce of the gradients and for the slowest rank, so P processes run at ``DDP_EFFICIENCY`` of P
times one process's speed. The only figure measured here (README, "Training on several processes") is 0.52 for
2 processes on a 2-core machine shared with a dozen busy tasks, i.e. no free core for the second rank: a floor,
not what a cluster's own cores or GPUs give. Published DDP scaling for small nets sits around 0.7-0.9; 0.75 is
the middle. The cost counts every process for the whole wall time: ``train_usd_per_hour`` is the price of the
machine one process holds (a GPU, or a pod's cores) for an hour.
"""

from __future__ import annotations

DDP_EFFICIENCY = 0.75  # share of ideal P-fold speed that P > 1 DDP processes reach (assumed; see above)


def processes(nodes: int, nproc: int) -> int:
    return max(1, nodes) * max(1, nproc)


def wall_seconds(one_process_seconds: float, procs: int) -> float:
    """Wall seconds on ``procs`` DDP processes for a training that takes ``one_process_seconds`` on one."""
    return one_process_seconds if procs <= 1 else one_process_seconds / (procs * DDP_EFFICIENCY)


def cost_usd(wall: float, procs: int, usd_per_process_hour: float) -> float:
    """Every process is paid for the whole wall time."""
    return wall / 3600 * procs * usd_per_process_hour


def cost_sentence(wall: float, procs: int, usd: float) -> str:
    """The rationale's estimate, the same words at drafting and after an edit (so an edit can replace it)."""
    if procs <= 1:
        return f"est. {wall:.0f} s (${usd:.2f})"
    return (f"est. {wall:.0f} s wall on {procs} processes (${usd:.2f}: wall time x {procs} processes x the "
            f"per-process-hour price; DDP assumed at {DDP_EFFICIENCY:.0%} of ideal scaling)")


def rescale(seconds: float, usd: float, *, before: tuple[int, int], after: tuple[int, int]) -> tuple[float, float]:
    """The estimate for ``after`` = (epochs, processes) from the one made for ``before``: seconds scale with
    epochs and by ``wall_seconds``; the cost with seconds x processes (its price per process-hour is unchanged)."""
    (epochs0, procs0), (epochs1, procs1) = before, after
    one = seconds * (procs0 * DDP_EFFICIENCY if procs0 > 1 else 1.0) / max(1, epochs0)
    wall = wall_seconds(one * epochs1, procs1)
    return wall, (usd * wall * procs1 / (seconds * procs0) if seconds > 0 else 0.0)
