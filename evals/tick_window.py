"""How far back a scheduled tick looks when its traffic is sent just before it (the benchmark and its tests)."""

from __future__ import annotations

import time


def own_traffic_minutes(started: float, previous_traffic_end: float | None, slack_s: float) -> float:
    """The window, in minutes up to now, over exactly this tick's traffic (sent from ``started``): it opens up to
    ``slack_s`` before, never before halfway back to the previous tick's last request. A fixed slack reached into
    the previous tick's rows once a triage took less than it, so a fault's first tick also held rows from before
    its onset (a column stuck in every new record was then not stuck in the whole window). The graph reads its
    clock after this, so the window opens a little later still."""
    slack = slack_s if previous_traffic_end is None else min(slack_s, (started - previous_traffic_end) / 2)
    return (time.time() - started + slack) / 60
