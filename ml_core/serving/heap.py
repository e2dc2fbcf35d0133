"""The scoring process's garbage collector: the heap that loading leaves behind is frozen out of its passes.

A serving process holds some 400,000 long-lived objects (torch, MLflow, pandas, the loaded versions) and every
request allocates a few hundred short-lived containers (its records, rows, answers). The collector's full passes,
which its own thresholds start every few thousand requests, walk the whole heap: ~0.2 s with the loop stopped, on
average 40-90 µs a request at batch 16 (in process, ``gc.callbacks`` timing). ``gc.freeze`` moves every object alive
at that moment into a generation the collector never walks, so its passes see only what requests allocated since.

Frozen objects are still freed when their last reference goes; only a reference cycle among them would outlive its
use. So the first load and each ``/admin/reload`` first collect (with the frozen heap put back), then freeze what
is left: the versions a reload dropped are reclaimed, and the pause is one full pass per reload instead of one every
few thousand requests. Only the service's own process does this (``python -m ml_core.serving``, through
``create_app(freeze_heap=True)``): a test process that builds many services keeps the collector as it is.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Collect everything that is garbage now (frozen objects included), then freeze what is left."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
