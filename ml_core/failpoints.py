"""Named points where a crash test may kill this process, as ``kill -9`` would (the fail-points of
FreeBSD's and TiKV's crash tests). Off unless ``OPSAGENT_FAILPOINTS`` names the point (comma-separated), so
production runs pay one environment lookup per point.

The points mark the steps a durable remediation must survive: ``after_training`` (the model is trained, not
yet registered), ``after_job_submitted`` (a training job created on Kubernetes, not yet finished),
``after_register`` (registered, not yet gated), ``after_canary_routed``, ``during_watch``, ``after_promote``.
"""

from __future__ import annotations

import os
import signal

ENV = "OPSAGENT_FAILPOINTS"


def failpoint(name: str) -> None:
    """Die here with SIGKILL when ``OPSAGENT_FAILPOINTS`` names ``name``: no cleanup, no flush, no atexit."""
    armed = os.environ.get(ENV)
    if armed and name in {p.strip() for p in armed.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)
