"""The model's health charts as a PNG in an incident's report folder (``reports/<incident>/health.png``): the
health page's charts, from the first prediction of the last day (or the last ``MIN_SPAN_S``) to the incident.

It is drawn on every tick of an ongoing incident, so its cost must not grow with the model's traffic or age:
a point per hour of the span (as many as the rows allow a drift score for), and each point's drift scored on
that bucket's last ``CHART_DRIFT_ROWS`` predictions only. Before, the buckets followed the row count and every
row's features were read: a tick read more the longer the model had served, not the more it had to say.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

from agent.health import model_health
from agent.reports.postmortem_files import report_dir
from ml_core.monitoring.history import DEFAULT_SPAN_S, prediction_times
from ml_core.monitoring.history_plot import plot_history
from ml_core.monitoring.history_series import MIN_DRIFT_ROWS_DISTANCE

if TYPE_CHECKING:
    from agent.context import OpsContext

logger = logging.getLogger(__name__)
CHART_FILE = "health.png"
MIN_SPAN_S = 600.0  # a young model's first ten minutes still make a chart of points, not one
MAX_BUCKETS, MIN_BUCKETS = 24, 6  # a point per hour of a day at most; fewer than six is no longer a history
BUCKET_S = 3600.0  # a point per hour: what a person reads a day's history at; a shorter span gets MIN_BUCKETS
# The smallest bucket the chart already scores (a bucket drawn from the reference itself stays under the
# threshold 95 % of the time from 1,000 rows: history_series.MIN_DRIFT_ROWS_DISTANCE), so every point is scored
# on as many rows as the thinnest charted one: a busy model's chart costs what a quiet one's does.
CHART_DRIFT_ROWS = MIN_DRIFT_ROWS_DISTANCE


def chart_buckets(span_s: float, rows: int) -> int:
    """Points on the chart: one per hour of the span, at most one per ``MIN_DRIFT_ROWS_DISTANCE`` rows (a bucket
    big enough for a drift score where the traffic allows), between ``MIN_BUCKETS`` and ``MAX_BUCKETS``."""
    return max(MIN_BUCKETS, min(MAX_BUCKETS, math.ceil(span_s / BUCKET_S), rows // MIN_DRIFT_ROWS_DISTANCE))


def write_health_chart(ctx: OpsContext, model: str, incident_id: str, until: float) -> str | None:
    """Draw the charts up to ``until`` into the incident's folder; the file's name relative to it, or None when
    they could not be drawn (the post-mortem is written without them: charts never block a report)."""
    try:
        with ctx.prediction_log(model) as log:
            times = prediction_times(log, until - DEFAULT_SPAN_S, until)
        since = min(float(times[0]) if len(times) else until - DEFAULT_SPAN_S, until - MIN_SPAN_S)
        history = model_health(ctx, model, since=since, until=until, buckets=chart_buckets(until - since, len(times)),
                               drift_rows=CHART_DRIFT_ROWS)
        plot_history(history, report_dir(ctx.layout, incident_id) / CHART_FILE)
    except Exception:
        logger.exception("health charts for %s (incident %s) could not be drawn", model, incident_id)
        return None
    return CHART_FILE
