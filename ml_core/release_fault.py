"""What a registered version is made of on disk, and the faults a scenario may inject into a release — without
torch, so that reading the registry (``opsagent models list``) does not pay torch's import."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

BUNDLE_FILE = "bundle.pt"


@dataclass
class Fault:
    """A deliberately bad release, for fault-injection scenarios (a slow or broken model)."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    after_calls: int = 0  # healthy for this many calls first: passes readiness, breaks under traffic


def apply_fault(fault: Fault, calls: int) -> int:
    """An injected fault on one call (slow, then after ``after_calls`` healthy calls maybe failing); returns the
    call count. Shared by every model kind, so a fault release behaves the same whatever it wraps."""
    if fault.latency_ms:
        time.sleep(fault.latency_ms / 1000)
    calls += 1
    if calls > fault.after_calls and fault.error_rate and np.random.random() < fault.error_rate:
        raise RuntimeError("injected fault: model release is broken")
    return calls
