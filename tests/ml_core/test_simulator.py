"""Scenarios are data: they validate, and each fault changes the traffic the way it says."""

from __future__ import annotations

import numpy as np
import pytest

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.simulator.faults import apply_feature_faults, relabel, sample_customers, to_records
from ml_core.simulator.scenario import ScenarioError, builtin_names, load_scenario


@pytest.fixture(scope="module")
def pool():
    return load_churn()


def test_every_builtin_scenario_validates():
    names = builtin_names()
    assert {"no_fault", "covariate_drift", "concept_drift", "label_shift", "null_storm", "schema_break",
            "slow_release", "broken_release"} <= set(names)
    for name in names:
        assert load_scenario(name).name == name


def test_bad_scenario_files_get_clear_messages(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nfaults:\n  - kind: covariate_drift\n    features: [no_such_feature]\n")
    # A scenario is checked against the model it is run on: the file is valid, the churn model lacks the column.
    with pytest.raises(ScenarioError, match="no_such_feature"):
        load_scenario(bad).check_features(CHURN_SCHEMA, "churn")
    bad.write_text("name: x\nfaults:\n  - kind: meteor_strike\n")
    with pytest.raises(ScenarioError, match="faults"):
        load_scenario(bad)
    bad.write_text("name: [unclosed")
    with pytest.raises(ScenarioError, match="YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="no_fault"):
        load_scenario("not-a-scenario")


def test_covariate_drift_scales_only_the_named_feature(pool):
    s = load_scenario("covariate_drift")
    rng = np.random.default_rng(0)
    batch = sample_customers(pool, 400, rng, s, True, CHURN_SCHEMA)
    drifted = apply_feature_faults(batch, s, {}, rng, CHURN_SCHEMA)
    ratio = drifted["total_day_minutes"].mean() / batch["total_day_minutes"].mean()
    assert ratio == pytest.approx(1.25, rel=0.01)
    assert drifted["total_eve_minutes"].equals(batch["total_eve_minutes"])


def test_label_shift_changes_the_prior(pool):
    s = load_scenario("label_shift")
    rng = np.random.default_rng(0)
    before = (sample_customers(pool, 2000, rng, s, False, CHURN_SCHEMA)["churn"] == "yes").mean()
    after = (sample_customers(pool, 2000, rng, s, True, CHURN_SCHEMA)["churn"] == "yes").mean()
    assert before < 0.2 and after == pytest.approx(0.45, abs=0.04)


def test_concept_drift_changes_labels_not_features(pool):
    s = load_scenario("concept_drift")
    rng = np.random.default_rng(0)
    batch = sample_customers(pool, 2000, rng, s, True, CHURN_SCHEMA)
    y_new = relabel(batch, s, rng, CHURN_SCHEMA)
    y_old = (batch["churn"] == "yes").to_numpy().astype(int)
    vm = (batch["voice_mail_plan"] == "yes").to_numpy()
    assert y_new[vm].mean() > y_old[vm].mean() + 0.3
    assert apply_feature_faults(batch, s, {}, rng, CHURN_SCHEMA).equals(batch)


def test_null_storm_and_schema_break_break_records(pool):
    rng = np.random.default_rng(0)
    batch = sample_customers(pool, 200, rng, None, False, CHURN_SCHEMA)
    nulls = to_records(batch, load_scenario("null_storm"), True, rng, CHURN_SCHEMA)
    share = np.mean([r["total_eve_charge"] is None for r in nulls])
    assert 0.2 < share < 0.4
    broken = to_records(batch, load_scenario("schema_break"), True, rng, CHURN_SCHEMA)
    assert "total_night_minutes" not in broken[0] and "night_minutes" in broken[0]
    assert isinstance(broken[0]["account_length"], str)
    clean = to_records(batch, load_scenario("null_storm"), False, rng, CHURN_SCHEMA)
    assert all(r["total_eve_charge"] is not None for r in clean)


def _scenario(*faults: dict):
    from ml_core.simulator.scenario import Scenario

    return Scenario.model_validate({"name": "t", "faults": list(faults)})


def test_a_segmented_fault_touches_only_its_segment(pool):
    rng = np.random.default_rng(0)
    batch = sample_customers(pool, 2000, rng, None, False, CHURN_SCHEMA)
    inside = (batch["international_plan"] == "yes").to_numpy()
    drift = _scenario({"kind": "covariate_drift", "features": ["total_day_minutes"], "scale": 2.0,
                       "segment": {"international_plan": "yes"}})
    out = apply_feature_faults(batch, drift, {}, rng, CHURN_SCHEMA)
    assert out.loc[~inside, "total_day_minutes"].equals(batch.loc[~inside, "total_day_minutes"].astype(float))
    ratio = out.loc[inside, "total_day_minutes"].mean() / batch.loc[inside, "total_day_minutes"].mean()
    assert ratio == pytest.approx(2.0, rel=0.02)
    concept = _scenario({"kind": "concept_drift", "strength": 1.0, "feature": "voice_mail_plan", "value": "yes",
                         "segment": {"international_plan": "yes"}})
    y_old = CHURN_SCHEMA.labels_to_int(batch["churn"]).to_numpy()
    y_new = relabel(batch, concept, rng, CHURN_SCHEMA)
    assert (y_new[~inside] == y_old[~inside]).all()
    assert (y_new[inside] == (batch.loc[inside, "voice_mail_plan"] == "yes").to_numpy()).all()


@pytest.mark.parametrize(("mode", "extra", "check"), [
    ("zeros", {}, lambda v, old: v == 0),
    ("stuck", {"value": 100}, lambda v, old: v == 100),
    ("out_of_range", {"factor": 10}, lambda v, old: v == min(max(old, 1.0) * 10, 1440.0)),
])
def test_corruption_writes_its_values_into_a_share_of_records(pool, mode, extra, check):
    rng = np.random.default_rng(1)
    batch = sample_customers(pool, 1000, rng, None, False, CHURN_SCHEMA)
    s = _scenario({"kind": "corruption", "features": ["total_intl_minutes"], "mode": mode, "share": 0.3, **extra})
    records = to_records(batch, s, True, rng, CHURN_SCHEMA)
    old = batch["total_intl_minutes"].to_numpy()
    hit = np.array([check(r["total_intl_minutes"], o) and r["total_intl_minutes"] != o
                    for r, o in zip(records, old, strict=True)])
    assert 0.25 < hit.mean() < 0.35  # about the share asked for, and only that column
    assert [r["total_intl_charge"] for r in records] == batch["total_intl_charge"].tolist()
