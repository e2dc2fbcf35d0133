"""Two models in one home (the churn demo and the credit table) are watched side by side and never mix:
each check reads its own prediction log against its own reference, with its own spec's columns."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from agent.context import OpsContext
from agent.settings import Settings
from ml_core.data.tables import split_frame
from ml_core.jobs import train_and_register
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.registry import CHAMPION
from ml_core.spec.data import load_spec_data
from ml_core.training import TrainConfig

pytestmark = pytest.mark.slow


def _serve(ctx: OpsContext, name: str, frame: pd.DataFrame, now: float) -> None:
    """Champion predictions of ``frame`` written to ``name``'s log, as the scoring service writes them."""
    spec = ctx.spec(name)
    model = ctx.registry.load(name, ctx.registry.alias(name, CHAMPION).version)
    feats = frame[spec.schema.feature_names]
    scores = model.predict_proba(feats)
    records = [{k: (None if isinstance(v, float) and np.isnan(v) else v.item() if hasattr(v, "item") else v)
                for k, v in r.items()} for r in feats.to_dict(orient="records")]
    ids = frame[spec.id_column].astype(str).tolist()
    rows = [PredictionRow(f"{name}-{i}", ids[i], now - 600 + i, name, "1", "champion", None, None, float(s),
                          int(s >= model.threshold), 12.0, records[i]) for i, s in enumerate(scores)]
    with ctx.prediction_log(name) as log:
        log.write_predictions(rows)


def test_two_models_in_one_home_keep_their_findings_apart(tmp_path):
    ctx = OpsContext(Settings(home=tmp_path / "home"))
    pools = {}
    for name in ("churn", "credit"):
        spec = ctx.spec(name)
        data = load_spec_data(spec)
        job = train_and_register(ctx.registry, data, TrainConfig(epochs=3, exclude_columns=tuple(
            spec.exclude_from_training)), model_name=name, schema=spec.schema, with_baseline=False)
        ctx.registry.set_alias(name, CHAMPION, job.version)
        pools[name] = split_frame(data, spec.schema).test.head(400).reset_index(drop=True)
    now = time.time()
    drifted = pools["credit"].copy()
    drifted["Income"] = drifted["Income"] * 1.8  # credit's traffic drifts; churn's does not
    _serve(ctx, "credit", drifted, now)
    _serve(ctx, "churn", pools["churn"], now)

    credit = ctx.check_window("credit", since=now - 3600, until=now + 1, write_report=False).result
    churn = ctx.check_window("churn", since=now - 3600, until=now + 1, write_report=False).result
    assert "Income" in credit.drifted_features and credit.n_rows == 400
    assert churn.n_rows == 400 and churn.drifted_features == []
    churn_columns = set(ctx.spec("churn").schema.feature_names)
    assert churn_columns.isdisjoint(f.subject for f in credit.findings)
    assert set(ctx.spec("credit").schema.feature_names).isdisjoint(f.subject for f in churn.findings)
    with PredictionLog(ctx.layout.predictions_db("churn")) as log:
        assert set(log.predictions(now - 3600, now + 1)["model"]) == {"churn"}
    ctx.close()
