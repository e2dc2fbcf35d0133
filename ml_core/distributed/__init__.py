"""Distributed data-parallel training through torchrun: the launcher (``launch``), each rank's work
(``worker``, run as ``python -m ml_core.distributed``), the DDP plan (``ddp``) and the files they share (``job``)."""

from ml_core.distributed.launch import (
    MAX_NPROC,
    DistributedTrainingError,
    check_nproc,
    train_and_register_distributed,
    train_and_register_nproc,
)

__all__ = ["MAX_NPROC", "DistributedTrainingError", "check_nproc", "train_and_register_distributed",
           "train_and_register_nproc"]
