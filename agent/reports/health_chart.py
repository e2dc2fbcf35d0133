"""The model's health charts as a PNG in an incident's report folder (``reports/<incident>/health.png``): the
health page's charts, from the first prediction of the last day (or the last ``MIN_SPAN_S``) to the incident."""

from __future__ import annotations

import logging
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


def write_health_chart(ctx: OpsContext, model: str, incident_id: str, until: float) -> str | None:
    """Draw the charts up to ``until`` into the incident's folder; the file's name relative to it, or None when
    they could not be drawn (the post-mortem is written without them: charts never block a report)."""
    try:
        with ctx.prediction_log(model) as log:
            times = prediction_times(log, until - DEFAULT_SPAN_S, until)
        since = min(float(times[0]) if len(times) else until - DEFAULT_SPAN_S, until - MIN_SPAN_S)
        # Buckets big enough for a drift score where the traffic allows (a bucket needs 1,000 rows against a
        # large reference), as many as a day's hours where it is plentiful.
        buckets = min(MAX_BUCKETS, max(MIN_BUCKETS, len(times) // MIN_DRIFT_ROWS_DISTANCE))
        history = model_health(ctx, model, since=since, until=until, buckets=buckets)
        plot_history(history, report_dir(ctx.layout, incident_id) / CHART_FILE)
    except Exception:
        logger.exception("health charts for %s (incident %s) could not be drawn", model, incident_id)
        return None
    return CHART_FILE
