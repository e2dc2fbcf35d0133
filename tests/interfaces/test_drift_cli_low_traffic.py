"""`opsagent drift` on a quiet model's window (40 rows): exit 0 and "not enough data", never a traceback.

On 40 rows Evidently, left to infer kinds, typed churn's 51-state column text and the report crashed the
command; the check now passes the schema's kinds and names what the window is too small to test.
"""

from __future__ import annotations

import json
import time

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.predlog import PredictionLog, PredictionRow
from tests.conftest import make_champion_home
from tests.interfaces.test_cli import run

ROWS = 40


def _log_quiet_traffic(layout, registry, version: str, churn_df) -> None:
    rows = split_frame(churn_df, CHURN_SCHEMA).test.head(ROWS)
    model = registry.load("churn", version)
    scores = model.predict_proba(rows)
    now = time.time()
    features = CHURN_SCHEMA.feature_names
    with PredictionLog(layout.predictions_db("churn")) as log:
        log.write_predictions([
            PredictionRow(f"req-{i}", rec["customer_id"], now - 60 + i, "churn", version, "champion", None, None,
                          float(s), int(s >= model.threshold), 20.0, {k: rec[k] for k in features})
            for i, (rec, s) in enumerate(zip(rows.to_dict("records"), scores, strict=True))])


def test_drift_on_a_tiny_window_exits_0_and_says_not_enough_data(tmp_path, churn_df):
    layout, registry, job = make_champion_home(tmp_path / "home", churn_df, epochs=2)
    _log_quiet_traffic(layout, registry, job.version, churn_df)

    text = run(["drift", "--minutes", "10"], layout.home)
    assert text.returncode == 0, text.stderr
    assert "Traceback" not in text.stdout + text.stderr
    assert f"{ROWS} predictions" in text.stdout
    assert "not enough data for estimated_f1 (estimate, 40 rows)" in text.stdout
    assert "Evidently report:" in text.stdout

    as_json = run(["drift", "--minutes", "10", "--json", "--no-report"], layout.home)
    assert as_json.returncode == 0, as_json.stderr
    result = json.loads(as_json.stdout)
    named = {i["name"]: i for i in result["insufficient"]}
    assert "state" not in named  # 51 states on 40 rows break Cochran's rule: tested exactly, not skipped
    assert "estimated_f1" in named  # 40 scored rows: the label-free estimate is judged from 100
    assert result["findings"] == [] and result["status"] == "ok"
    assert "state" in {f["name"] for f in result["drift"]["features"]}
