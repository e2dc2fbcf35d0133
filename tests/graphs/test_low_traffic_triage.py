"""A quiet served model, 50 rows a tick: every scheduled triage ends without error and finds nothing.

Each tick used to end in a ValidationError: the drift report let Evidently type churn's 51-state column text on
50 rows and its text-drift test name was not one the verdicts knew.
"""

from __future__ import annotations

import time

import pytest
from world import make_ctx, start_ready

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
            # This tick's rows only: the window opens halfway between the previous tick's last row and this
            # tick's first (a triage now takes under half a second, so a fixed 0.5 s slack reached back into the
            # previous tick's rows). The graph reads its clock after this line, so it opens a little later still.
            gap = 1.0 if previous_traffic_end is None else started - previous_traffic_end
            opens = started - min(0.5, gap / 2)
            out = runner.triage("churn", window_minutes=(time.time() - opens) / 60)
            previous_traffic_end = traffic_end
            assert f"{ROWS_PER_TICK} predictions checked, nothing flagged" in out.summary, out.summary
            assert "not enough data for estimated_f1" in out.summary  # 50 scored rows: the estimate needs 100
            assert not out.diagnosis.detected and out.proposal_id is None, out.diagnosis
