"""A data-quality post-mortem gives, per field, the problem, how many and the first bad record's time (the
earliest in the window with that problem), as an ISO UTC date — measured by the real quality check."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from agent.diagnosis import DeploySnapshot, Diagnosis, TriageSignals
from agent.reports import build_postmortem
from agent.reports.render import render_postmortem
from ml_core.monitoring.slo import data_quality

T0 = 1_736_000_000.0  # 2025-01-04T14:13:20Z


def _window() -> tuple[pd.DataFrame, pd.DataFrame]:
    n = 200
    window = pd.DataFrame({"ts": T0 + np.arange(n, dtype=float) * 3, "total_day_minutes": np.linspace(100, 300, n),
                           "state": ["CA"] * n})
    window.loc[120:, "total_day_minutes"] = np.nan  # the feed broke at row 120: T0 + 360 s
    window.loc[150, "state"] = None  # one stray null later
    errors = lambda field, problem: json.dumps({"errors": [{"field": field, "problem": problem}]})  # noqa: E731
    rejections = pd.DataFrame({"ts": [T0 + 400, T0 + 100, T0 + 500], "rows": [1, 1, 1],
                               "reason": [errors("area_code", "wrong_type"), errors("area_code", "wrong_type"),
                                          errors("state", "missing")]})
    return window, rejections


def test_the_quality_check_finds_each_fields_count_and_first_bad_time():
    window, rejections = _window()
    q = data_quality(window, rejections, ["total_day_minutes", "state"])
    assert [(f.field, f.count, f.first_at) for f in q.null_fields] == [("total_day_minutes", 80, T0 + 360),
                                                                       ("state", 1, T0 + 450)]
    # the rejections are not in time order: the earliest one counts, not the first listed
    assert [(f.field, f.problem, f.count, f.first_at) for f in q.rejected_fields] == [
        ("area_code", "wrong_type", 2, T0 + 100), ("state", "missing", 1, T0 + 500)]


def test_a_data_quality_postmortem_dates_each_fields_first_bad_record():
    window, rejections = _window()
    q = data_quality(window, rejections, ["total_day_minutes", "state"])
    signals = TriageSignals(model="churn", window_since=T0, window_until=T0 + 600, n_predictions=200,
                            deploy=DeploySnapshot(champion="1"), rejected_fields=q.rejected_fields,
                            null_share=q.null_share, null_fields=q.null_fields)
    diagnosis = Diagnosis(detected=True, category="data_quality", culprit=["total_day_minutes"], action="fix_data",
                          summary="the feed sends nulls")
    md = render_postmortem(build_postmortem(signals, diagnosis, None, incident_id="inc-q", timeline=[],
                                            usage="no LLM calls", now=T0 + 700))
    cause = md.split("## Trigger and root cause")[1].split("## Resolution")[0]
    assert "`total_day_minutes` null in 40.0% of the window's rows (80 rows), first at 2025-01-04T14:19:20Z" in cause
    assert "`state` null in 0.5% of the window's rows (1 rows), first at 2025-01-04T14:20:50Z" in cause
    assert "`area_code` rejected for wrong_type: 2 request(s), first at 2025-01-04T14:15:00Z" in cause
    assert not re.search(r"17360\d{5}", md)  # no epoch seconds for a person to decode
