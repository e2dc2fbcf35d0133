"""A quiet served model, 50 rows a tick: every scheduled triage ends without error and finds nothing.

Each tick used to end in a ValidationError: the drift report let Evidently type churn's 51-state column text on
50 rows and its text-drift test name was not one the verdicts knew.
"""

from __future__ import annotations

import time

import pytest
from world import make_ctx, start_ready

from evals.tick_window import own_traffic_minutes
from graphs.runner import GraphRunner
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.predlog import PredictionLog
from ml_core.simulator.scenario import load_scenario
from ml_core.simulator.traffic import deliver_labels, run_traffic
from tests.conftest import make_champion_home

pytestmark = pytest.mark.slow

TICKS = 3
ROWS_PER_TICK = 50  # 10 requests of 5 customers


@pytest.fixture(scope="module")
def quiet_world(tmp_path_factory, churn_df):
    layout, registry, job = make_champion_home(tmp_path_factory.mktemp("quiet"), churn_df, epochs=2)
    backend, status = start_ready(layout, registry, job.version)
    yield layout, status.url
    backend.stop()


def test_triage_of_a_quiet_model_at_50_rows_a_tick_is_quiet(quiet_world, churn_df):
    layout, url = quiet_world
    pool = split_frame(churn_df, CHURN_SCHEMA).test
    ctx = make_ctx(layout)
    with GraphRunner(ctx) as runner:
        previous_traffic_end = None
        for tick in range(TICKS):
            started = time.time()
            scenario = load_scenario("no_fault").model_copy(update={"requests": 10, "batch_size": 5, "seed": tick})
            traffic = run_traffic(url, scenario, pool, schema=CHURN_SCHEMA)
            with PredictionLog(layout.predictions_db("churn")) as log:
                deliver_labels(log, traffic)
            traffic_end = time.time()
            # this tick's rows only
            out = runner.triage("churn", window_minutes=own_traffic_minutes(started, previous_traffic_end, 0.5))
            previous_traffic_end = traffic_end
            assert f"{ROWS_PER_TICK} predictions checked, nothing flagged" in out.summary, out.summary
            assert "not enough data for estimated_f1" in out.summary  # 50 scored rows: the estimate needs 100
            assert not out.diagnosis.detected and out.proposal_id is None, out.diagnosis
