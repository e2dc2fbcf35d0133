"""The champion-vs-challenger gate, on hand-built evaluation reports."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ml_core.evaluation import BiasFlag, BiasReport, EvaluationReport, SliceMetrics
from ml_core.gate import GatePolicy, GateVerdict, gate


def report(auc: float, f1: float, slices: dict[str, float] | None = None,
           flagged: tuple[str, ...] = ()) -> EvaluationReport:
    slices = slices if slices is not None else {"yes": auc, "no": auc}
    return EvaluationReport(
        overall={"auc": auc, "f1": f1, "recall": 0.8, "n": 1000.0},
        threshold=0.4,
        slices=[SliceMetrics(column="international_plan", value=v, n=100, positives=20, metrics={"auc": a})
                for v, a in slices.items()],
        bias=BiasReport(metric="recall", max_gap=0.15, reference="overall", checked_groups=2,
                        flagged=[BiasFlag(column="international_plan", value=v, value_metric=0.5,
                                          reference=0.8, gap=0.3) for v in flagged]),
    )


def test_no_champion_passes():
    v = gate(None, report(0.90, 0.80))
    assert isinstance(v, GateVerdict)
    assert v.passed and "no champion" in v.reasons[0] and v.champion_value is None


def test_better_challenger_passes_with_reasons():
    v = gate(report(0.90, 0.80), report(0.92, 0.82))
    assert v.passed, v.reasons
    assert v.deltas["auc"] == pytest.approx(0.02) and v.deltas["f1"] == pytest.approx(0.02)
    assert "n" not in v.deltas
    assert any("meets" in r for r in v.reasons)
    assert any("no slice lost" in r for r in v.reasons)
    assert v.summary().startswith("PASSED")


def test_worse_metric_fails_unless_allowed():
    champ, chall = report(0.92, 0.80), report(0.917, 0.80)
    failed = gate(champ, chall)
    assert not failed.passed and failed.failed_checks == ["metric"]
    assert any("misses" in r for r in failed.reasons)
    assert gate(champ, chall, GatePolicy(min_gain=-0.005)).passed


def test_f1_drop_beyond_tolerance_fails():
    v = gate(report(0.90, 0.85), report(0.91, 0.82))
    assert not v.passed and v.failed_checks == ["f1"]
    assert any("beyond" in r for r in v.reasons)


def test_slice_regression_fails_and_names_the_slice():
    champ = report(0.90, 0.80, {"yes": 0.90, "no": 0.90})
    chall = report(0.91, 0.81, {"yes": 0.80, "no": 0.93})
    v = gate(champ, chall)
    assert not v.passed and v.failed_checks == ["slices"]
    assert any("international_plan=yes" in r for r in v.reasons)
    delta = {d.value: d.delta for d in v.slice_deltas}
    assert delta["yes"] == pytest.approx(-0.10)


def test_new_bias_flag_fails_but_an_inherited_one_does_not():
    assert not gate(report(0.90, 0.80), report(0.91, 0.81, flagged=("yes",))).passed
    assert gate(report(0.90, 0.80, flagged=("yes",)), report(0.91, 0.81, flagged=("yes",))).passed
    assert gate(report(0.90, 0.80), report(0.91, 0.81, flagged=("yes",)),
                GatePolicy(block_new_bias=False)).passed


def test_policy_rejects_unknown_keys():
    with pytest.raises(ValidationError):
        GatePolicy(min_gian=0.01)  # type: ignore[call-arg]


def _bias_report(recall_group: float, positives: int, flagged: bool) -> EvaluationReport:
    r = report(0.90, 0.80)
    slices = [SliceMetrics(column="Home", value="owner", n=400, positives=positives,
                           metrics={"auc": 0.9, "recall": recall_group})]
    flags = [BiasFlag(column="Home", value="owner", value_metric=recall_group, reference=0.8,
                      gap=0.8 - recall_group)] if flagged else []
    return r.model_copy(update={"slices": slices, "bias": r.bias.model_copy(update={"flagged": flags})})


def test_a_new_bias_flag_fails_only_when_the_group_is_served_significantly_worse():
    # The challenger's group recall is the champion's: its gap widened because other groups got better.
    same = gate(_bias_report(0.66, 60, flagged=False), _bias_report(0.62, 60, flagged=True))
    assert same.passed and any("not serve it significantly worse" in r for r in same.reasons)
    # The group's recall fell from 0.8 to 0.4 on 100 positives: a new bias, whatever the overall did.
    worse = gate(_bias_report(0.80, 100, flagged=False), _bias_report(0.40, 100, flagged=True))
    assert not worse.passed and worse.failed_checks == ["bias"]
    assert gate(_bias_report(0.80, 100, flagged=False), _bias_report(0.40, 100, flagged=True),
                GatePolicy(bias_alpha=1e-12)).passed
