"""The benchmark's scenario files: every one validates, bad ones say which file and field is wrong, and the
set covers every incident kind the issue asks for."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from evals.scenario_model import SCENARIO_DIR, Kind, ScenarioFileError, load_dir, load_file

GOOD = """
name: tiny
kind: covariate_drift
faults:
  - kind: covariate_drift
    features: [total_day_minutes]
    scale: 1.2
expected: {detected: true, category: data_drift, culprit: [total_day_minutes], action: retrain}
"""


def test_every_benchmark_scenario_validates_and_there_are_at_least_15() -> None:
    scenarios = load_dir()
    assert len(scenarios) >= 15
    assert len({s.name for s in scenarios}) == len(scenarios)
    assert {p.stem for p in SCENARIO_DIR.glob("*.yaml")} == {s.name for s in scenarios}  # file name = name


def test_the_scenarios_cover_every_required_kind() -> None:
    scenarios = load_dir()
    assert {s.kind for s in scenarios} == set(get_args(Kind))
    faults = {f.kind for s in scenarios for f in s.faults}
    assert {"covariate_drift", "concept_drift", "label_shift", "nulls", "schema_break", "slow_release",
            "broken_release", "bad_model_release", "healthy_release"} <= faults
    assert any(s.kind == "covariate_drift_multi" and len(s.expected.culprit) >= 2 for s in scenarios)
    benign = [s for s in scenarios if s.kind == "benign_drift"]
    assert benign and all(s.expected.detected and s.expected.action == "none" for s in benign)
    assert sum(s.is_control for s in scenarios) >= 2
    assert all(len(s.faults) >= 2 for s in scenarios if s.kind == "compound")
    assert any(s.approve for s in scenarios) and [s.name for s in scenarios if s.fast]


def test_quiet_tick_zero_has_no_faults_and_later_ticks_do() -> None:
    s = next(s for s in load_dir() if s.name == "covariate_drift_day_minutes")
    assert s.traffic_scenario(0).faults == []
    assert [f.kind for f in s.traffic_scenario(1).faults] == ["covariate_drift"]
    assert s.traffic_scenario(1).seed != s.traffic_scenario(2).seed


def test_a_folder_from_elsewhere_loads_unchanged(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yml").write_text(GOOD.replace("name: tiny", "name: tiny_two"))
    assert [s.name for s in load_dir(tmp_path)] == ["tiny", "tiny_two"]
    assert [s.name for s in load_dir(tmp_path, only=["tiny_two"])] == ["tiny_two"]


@pytest.mark.parametrize(("text", "names"), [
    (GOOD.replace("total_day_minutes]\n    scale", "no_such_feature]\n    scale"),
     ["unknown feature", "no_such_feature"]),
    (GOOD.replace("category: data_drift", "category: gremlins"), ["expected.category"]),
    (GOOD.replace("kind: covariate_drift\nfaults", "kind: meteor\nfaults"), ["kind"]),
    (GOOD + "surprise: 1\n", ["surprise"]),
    (GOOD.replace("detected: true, category: data_drift, culprit: [total_day_minutes], action: retrain",
                  "detected: false, action: retrain"), ["expected", "quiet"]),
    (GOOD.replace("culprit: [total_day_minutes]", 'culprit: ["@release"]'), ["@release", "release fault"]),
    ("name: [unclosed\n", ["not valid YAML"]),
    ("- just\n- a list\n", ["expected a mapping"]),
])
def test_bad_files_name_the_file_and_what_is_wrong(tmp_path: Path, text: str, names: list[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioFileError) as err:
        load_file(path)
    message = str(err.value)
    assert str(path) in message
    for name in names:
        assert name in message


def test_a_folder_reports_every_bad_file_and_refuses_duplicates_and_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(GOOD)
    (tmp_path / "bad1.yaml").write_text("name: x\n")
    (tmp_path / "bad2.yaml").write_text("name: [\n")
    with pytest.raises(ScenarioFileError, match=r"(?s)bad1\.yaml.*bad2\.yaml"):
        load_dir(tmp_path)
    for p in tmp_path.glob("bad*.yaml"):
        p.unlink()
    with pytest.raises(ScenarioFileError, match="unknown scenario.*nope.*known: tiny"):
        load_dir(tmp_path, only=["nope"])
    (tmp_path / "dup.yaml").write_text(GOOD)
    with pytest.raises(ScenarioFileError, match="unique.*tiny"):
        load_dir(tmp_path)
    with pytest.raises(ScenarioFileError, match="no such folder"):
        load_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioFileError, match="no \\*.yaml"):
        load_dir(tmp_path / "empty")


def test_the_credit_scenarios_cover_the_issue_s_kinds_and_two_or_three_are_held_out() -> None:
    credit = [s for s in load_dir() if s.model == "credit" and s.batch == "step6"]
    assert len(credit) >= 8 and all(s.name.startswith("credit_") and s.model_name == "credit" for s in credit)
    assert {"control", "covariate_drift", "data_quality", "slow_release", "broken_release", "bad_model_release",
            "label_shift", "benign_drift"} <= {s.kind for s in credit}
    faults = {f.kind for s in credit for f in s.faults}
    assert {"covariate_drift", "nulls", "schema_break", "label_shift", "bad_model_release"} <= faults
    spec = credit[0].spec
    drifted = {n for s in credit for f in s.faults if f.kind == "covariate_drift" for n in f.features}
    kinds = {spec.schema.column(n).kind for n in drifted}
    assert "categorical" in kinds and kinds - {"categorical"}  # numeric and categorical drift
    never_null = {c.name for c in spec.columns if not c.nullable}
    storms = [s for s in credit if s.kind == "data_quality" and any(f.kind == "nulls" for f in s.faults)]
    assert storms and all(set(s.expected.culprit) <= never_null for s in storms)  # a null there is a finding
    assert 2 <= sum(s.holdout for s in credit) <= 3
    assert all(s.model == "churn" and not s.holdout for s in load_dir() if s.batch == "original")


def test_a_credit_fault_on_a_churn_column_names_the_model_and_its_columns(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(GOOD.replace("name: tiny", "name: tiny\nmodel: credit"))
    with pytest.raises(ScenarioFileError, match=r"(?s)total_day_minutes.*credit.*Amount"):
        load_file(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text(GOOD.replace("name: tiny", "name: tiny\nmodel: fraud"))
    with pytest.raises(ScenarioFileError, match=r"model.*no built-in model 'fraud'.*credit"):
        load_file(tmp_path / "c.yaml")


def test_a_spec_file_beside_the_scenario_is_the_world_s_model(tmp_path: Path) -> None:
    from ml_core.spec.builtin import builtin_spec
    from ml_core.spec.store import dump_spec

    spec = builtin_spec("credit")
    assert spec is not None
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "loans.yaml").write_text(dump_spec(spec.model_copy(update={"name": "loans"})))
    (tmp_path / "s.yaml").write_text(GOOD.replace("name: tiny", "name: tiny\nmodel: specs/loans.yaml")
                                     .replace("total_day_minutes", "Amount"))
    s = load_file(tmp_path / "s.yaml")
    assert s.model == str((tmp_path / "specs" / "loans.yaml").resolve()) and s.model_name == "loans"
    assert s.spec.schema.label == "Status"
    (tmp_path / "s.yaml").write_text(GOOD.replace("name: tiny", "name: tiny\nmodel: specs/missing.yaml"))
    with pytest.raises(ScenarioFileError, match="cannot read the spec file"):
        load_file(tmp_path / "s.yaml")


RAMPED = """
name: ramp
kind: gradual_drift
ramp_ticks: 4
ticks: 4
faults:
  - kind: covariate_drift
    features: [total_day_minutes]
    scale: 1.4
  - kind: nulls
    features: [total_eve_charge]
    rate: 0.4
expected: {detected: true, category: data_drift, culprit: [total_day_minutes], action: retrain, detectable_from: 3}
"""


def test_a_ramped_fault_grows_linearly_to_full_strength(tmp_path: Path) -> None:
    (tmp_path / "ramp.yaml").write_text(RAMPED)
    s = load_file(tmp_path / "ramp.yaml")
    assert s.traffic_scenario(0).faults == []
    scales = [s.traffic_scenario(t).faults[0].scale for t in (1, 2, 3, 4)]
    rates = [s.traffic_scenario(t).faults[1].rate for t in (1, 2, 3, 4)]
    assert scales == pytest.approx([1.1, 1.2, 1.3, 1.4])
    assert rates == pytest.approx([0.1, 0.2, 0.3, 0.4])
    (tmp_path / "ramp.yaml").write_text(RAMPED.replace("ticks: 4\nfaults", "ticks: 2\nfaults"))
    with pytest.raises(ScenarioFileError, match="detectable_from"):
        load_file(tmp_path / "ramp.yaml")


def test_half_of_the_step7_scenarios_are_held_out_on_both_data_sets() -> None:
    new_kinds = {"gradual_drift", "slice_regression", "corruption", "unlabelled", "low_traffic"}
    new = [s for s in load_dir() if s.batch == "step7"]
    assert len(new) >= 15 and new_kinds <= {s.kind for s in new}
    for model in ("churn", "credit"):
        mine = [s for s in new if s.model_name == model]
        assert 0.4 <= sum(s.holdout for s in mine) / len(mine) <= 0.6  # about half kept untouched
