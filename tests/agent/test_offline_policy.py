"""The offline policy: each simulator fault's findings (as a real deployment produces them) get the scenario's
expected category, culprit and action; benign drift stays a watch; the runbook planner terminates and never repeats.

The findings below copy what ``run_check`` reported for each built-in scenario on a real LocalBackend
deployment (see tests/ml_core/test_fault_detection.py): messages, subjects and evidence as it writes them.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.diagnosis import DeploySnapshot, TriageSignals
from agent.memory import MemoryHit
from agent.policy import MAX_PLANNED_CALLS, PlannedCall, diagnose, next_tool
from ml_core.monitoring.check import Finding
from ml_core.simulator.scenario import load_scenario

T0 = 1_700_000_000.0
REF = {"f1": 0.847, "auc": 0.9067, "precision": 0.85, "recall": 0.844}


def drift(feature: str, stat: float = 0.79) -> Finding:
    return Finding(kind="feature_drift", severity="warning", subject=feature,
                   message=f"{feature} drifted: wasserstein {stat:.3g} (threshold 0.1), p=1.8e-60",
                   evidence={"statistic": stat, "threshold": 0.1, "p_value": 1.8e-60})


def perf_drop(now: float, ref: float = 0.847) -> Finding:
    return Finding(kind="performance_drop", severity="critical", subject="f1",
                   message=f"realised f1 {now:.3f} vs {ref:.3f} (1000 labels)",
                   evidence={"realised": now, "reference": ref})


def est_drop(now: float, ref: float = 0.82) -> Finding:
    return Finding(kind="estimated_performance_drop", severity="warning", subject="f1",
                   message=f"estimated f1 {now:.3f} vs {ref:.3f} on reference (label-free, assumes calibrated scores)",
                   evidence={"estimated": now, "reference": ref})


def prior(pred: float, ref_pred: float, actual: tuple[float, float] | None = None) -> Finding:
    tail = f"; actual {actual[0]:.3f} vs {actual[1]:.3f}" if actual else ""
    return Finding(kind="prior_shift", severity="warning", subject="positive_rate",
                   message=f"predicted positive rate {pred:.3f} vs {ref_pred:.3f}{tail}",
                   evidence={"predicted_rate": pred, "reference_rate": ref_pred})


def pred_drift() -> Finding:
    return Finding(kind="prediction_drift", severity="warning", subject="score",
                   message="score distribution drifted: wasserstein 0.685", evidence={"statistic": 0.685})


def rejections(rate: float, n: int) -> Finding:
    return Finding(kind="rejection_spike", severity="critical", subject="requests",
                   message=f"{rate:.1%} of rows rejected ({n})", evidence={"rejection_rate": rate})


def errors(version: str, rate: float = 1.0) -> Finding:
    return Finding(kind="error_rate_slo", severity="critical", subject=version,
                   message=f"version {version} error/fallback rate {rate:.1%} > 1.0%",
                   evidence={"error_rate": rate, "errors": 150 * rate})


def latency(version: str, p95: float = 410.0) -> Finding:
    return Finding(kind="latency_slo", severity="warning", subject=version,
                   message=f"version {version} p95 latency {p95:.0f} ms > 250 ms", evidence={"p95_ms": p95})


def signals(*findings: Finding, **kw) -> TriageSignals:
    base = dict(model="churn", window_since=T0, window_until=T0 + 3600, n_predictions=1000, n_labelled=1000,
                deploy=DeploySnapshot(champion="1", running=True, ready=True, updated_at=T0 - 86400),
                reference=REF, realised=REF, findings=list(findings))
    return TriageSignals(**{**base, **kw})


CANARY = dict(deploy=DeploySnapshot(champion="1", canary="3", canary_weight=1.0, running=True, ready=True,
                                    updated_at=T0 + 60))

# Each built-in scenario, as its fault shows up in the monitoring findings and notes.
SCENARIO_SIGNALS: dict[str, Callable[[], TriageSignals]] = {
    "no_fault": lambda: signals(),
    "covariate_drift": lambda: signals(drift("total_day_minutes"), perf_drop(0.758),
                                       realised={**REF, "f1": 0.758, "auc": 0.893}),
    "concept_drift": lambda: signals(prior(0.139, 0.152, (0.214, 0.142)), perf_drop(0.317),
                                     realised={**REF, "f1": 0.317, "auc": 0.45}),
    "label_shift": lambda: signals(drift("state", 0.147), drift("number_customer_service_calls", 0.162), pred_drift(),
                                   prior(0.400, 0.152, (0.455, 0.142)), realised={**REF, "f1": 0.915}),
    "null_storm": lambda: signals(rejections(0.99, 990), n_predictions=10, n_labelled=10, realised={},
                                  notes=["rejected fields: total_eve_charge (null) ×31, total_eve_minutes (null) ×29"]),
    "schema_break": lambda: signals(rejections(1.0, 600), n_predictions=0, n_labelled=0, realised={}, notes=[
        "rejected fields: account_length (wrong_type) ×600, total_night_minutes (missing) ×600"]),
    "slow_release": lambda: signals(errors("3"), **CANARY, notes=[
        'slo_status: {"versions":[{"version":"3","n":150,"p95_ms":162.4,"p99_ms":170.1,"error_rate":1.0,'
        '"latency_breached":true,"error_rate_breached":true}],"breaches":["v3 p95 162 ms > 100 ms"]}']),
    "broken_release": lambda: signals(errors("3", 0.9), **CANARY, notes=[
        'slo_status: {"versions":[{"version":"3","n":150,"p95_ms":12.0,"p99_ms":15.3,"error_rate":0.9,'
        '"latency_breached":false,"error_rate_breached":true}],"breaches":["v3 error rate 90.0% > 1.0%"]}']),
}


@pytest.mark.parametrize("name", sorted(SCENARIO_SIGNALS))
def test_each_scenario_gets_its_expected_diagnosis(name):
    expected = load_scenario(name).expected
    d = diagnose(SCENARIO_SIGNALS[name]())
    assert (d.detected, d.category, d.action) == (expected.detected, expected.category, expected.action), d.summary
    if expected.culprit:
        assert sorted(d.culprit) == sorted(expected.culprit)
    assert d.brain == "offline policy"


def test_every_builtin_scenario_is_covered():
    from ml_core.simulator.scenario import builtin_names

    assert set(builtin_names()) == set(SCENARIO_SIGNALS)


@pytest.mark.parametrize(("case", "category", "culprit", "action"), [
    (signals(drift("total_day_minutes"), realised={**REF, "f1": 0.77}), "data_drift", ["total_day_minutes"],
     "retrain"),  # realised F1 down 0.077: under the alert threshold, still harm
    (signals(drift("total_day_minutes"), est_drop(0.70)), "data_drift", ["total_day_minutes"], "retrain"),
    (signals(drift("total_day_minutes"), realised={**REF, "f1": 0.84}), "data_drift", ["total_day_minutes"], "none"),
    (signals(drift("account_length"), n_labelled=0, realised={}), "data_drift", ["account_length"], "none"),
    (signals(perf_drop(0.6), **CANARY), "bad_release", ["3"], "rollback"),
    (signals(perf_drop(0.6), deploy=DeploySnapshot(champion="4", running=True, updated_at=T0 - 86400),
             recent_deploys=["v4 registered 2023-11-14 22:40:00 UTC (new in this window); aliases ['champion']; {}"]),
     "bad_release", ["4"], "rollback"),
    (signals(perf_drop(0.6), deploy=DeploySnapshot(champion="4", previous_champion="3", updated_at=T0 + 120)),
     "bad_release", ["4"], "rollback"),
    (signals(latency("3"), errors("3"), **CANARY), "latency", ["3"], "rollback"),
    (signals(errors("3"), **CANARY, notes=["slo_status: fallbacks on v3: timeout after 150 ms ×150"]),
     "latency", ["3"], "rollback"),
    (signals(Finding(kind="null_share", severity="warning", subject="total_eve_charge",
                     message="total_eve_charge is null in 30.0% of rows", evidence={"null_share": 0.3})),
     "data_quality", ["total_eve_charge"], "fix_data"),
    (signals(prior(0.25, 0.152), n_labelled=0, realised={}), "label_shift", [], "retune_threshold"),
    (signals(est_drop(0.70), n_labelled=0, realised={}), "data_drift", [], "none"),
    (signals(pred_drift(), n_labelled=0, realised={}), "data_drift", [], "none"),
], ids=["drift+realised-harm", "drift+estimated-drop", "benign-drift", "drift-no-labels", "perf-drop+canary",
        "perf-drop+new-champion", "perf-drop+promotion", "latency-slo", "errors-that-are-timeouts", "null-share",
        "predicted-prior-only", "estimate-only", "prediction-drift-only"])
def test_rules(case, category, culprit, action):
    d = diagnose(case)
    assert d.detected
    assert (d.category, d.culprit, d.action) == (category, culprit, action), d.summary


def test_a_benign_drift_never_proposes_a_retrain():
    d = diagnose(signals(drift("total_day_minutes"), drift("total_eve_minutes"), realised={**REF, "f1": 0.85}))
    assert d.detected and d.action == "none"
    assert "watch" in d.summary


def test_evidence_lists_findings_and_cites_similar_incidents():
    hit = MemoryHit(id="inc-1a2b3c", kind="incident", model="churn", similarity=0.82, created_at=T0 - 7 * 86400,
                    text="drift in total_day_minutes after the unlimited plan; retrained v2, gate passed")
    s = signals(drift("total_day_minutes"), perf_drop(0.758), similar_incidents=[hit],
                drift_report_dir="/home/reports/drift-123/report.html")
    d = diagnose(s)
    details = [e.detail for e in d.evidence]
    assert all(f.message in details for f in s.findings)
    assert "inc-1a2b3c" in d.summary
    assert any(e.source == "memory inc-1a2b3c" for e in d.evidence)
    assert "/home/reports/drift-123/report.html" in details


def test_confidence_grows_with_agreeing_signals():
    alone = diagnose(signals(errors("3"), **CANARY))
    both = diagnose(signals(errors("3"), latency("3"), **CANARY))
    assert both.confidence > alone.confidence
    weak = diagnose(signals(prior(0.25, 0.152), n_labelled=0, realised={}))
    strong = diagnose(SCENARIO_SIGNALS["label_shift"]())
    assert strong.confidence > weak.confidence
    assert diagnose(signals()).detected is False


# ---- the runbook planner ----------------------------------------------------------------------
def run_plan(s: TriageSignals) -> list[PlannedCall]:
    done: list[str] = []
    calls = []
    for _ in range(10):
        call = next_tool(s, done)
        if call is None:
            break
        calls.append(call)
        done.append(call.name)
    return calls


@pytest.mark.parametrize("name", sorted(SCENARIO_SIGNALS))
def test_plans_terminate_within_budget_and_never_repeat(name):
    calls = run_plan(SCENARIO_SIGNALS[name]())
    names = [c.name for c in calls]
    assert len(names) == len(set(names)) <= MAX_PLANNED_CALLS
    assert (names == []) == (name == "no_fault")
    assert all(c.why for c in calls)


def test_latency_plan_reads_deploys_then_compares_versions():
    names = [(c.name, c.args) for c in run_plan(signals(latency("3"), **CANARY))]
    assert names == [("recent_deploys", {"model": "churn", "limit": 5}),
                     ("compare_versions", {"model": "churn", "version_a": "1", "version_b": "3"})]


def test_errors_plan_asks_slo_status_first_to_tell_a_timeout_from_a_crash():
    calls = run_plan(signals(errors("3"), **CANARY, recent_deploys=["v3 registered ... (new in this window)"]))
    assert [c.name for c in calls] == ["slo_status", "compare_versions"]
    assert calls[0].args == {"model": "churn", "window_minutes": 60.0}


def test_drift_plan_cites_training_data_and_recalls_the_feature():
    calls = run_plan(SCENARIO_SIGNALS["covariate_drift"]())
    by_name = {c.name: c.args for c in calls}
    assert by_name["training_run"] == {"model": "churn", "version": "1"}
    assert "total_day_minutes" in by_name["recall_incidents"]["query"]
    assert [c.name for c in run_plan(SCENARIO_SIGNALS["concept_drift"]())][0] == "performance"


def test_plan_skips_recall_when_triage_already_recalled_something():
    hit = MemoryHit(id="inc-9", kind="incident", model="churn", text="x", similarity=0.9, created_at=T0)
    calls = run_plan(signals(drift("total_day_minutes"), perf_drop(0.7), similar_incidents=[hit]))
    assert "recall_incidents" not in [c.name for c in calls]


def test_unknown_champion_asks_model_status_and_uses_the_alias():
    calls = run_plan(signals(drift("total_day_minutes"), perf_drop(0.7), deploy=DeploySnapshot()))
    assert calls[0].name == "model_status"
    assert {"name": "training_run", "args": {"model": "churn", "version": "champion"}} in [
        c.model_dump(include={"name", "args"}) for c in calls]


def test_done_budget_stops_the_plan():
    assert next_tool(SCENARIO_SIGNALS["covariate_drift"](), ["a", "b", "c", "d"]) is None


def tool_parameters() -> dict[str, tuple[set[str], set[str]]]:
    """(all, required) parameters after ``ctx`` of each tool, read from the source (importing tools costs ~10 s)."""
    out = {}
    for path in (Path(__file__).parents[2] / "tools").glob("*_tools.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name in TOOL_NAMES:
                args = [a.arg for a in node.args.args][1:]
                out[node.name] = (set(args), set(args[:len(args) - len(node.args.defaults)]))
    return out


TOOL_NAMES = ("model_status", "drift_report", "performance", "slo_status", "compare_versions", "training_run",
              "recent_deploys", "recall_incidents")


def test_planned_args_fit_the_real_tool_signatures():
    params = tool_parameters()
    assert set(params) == set(TOOL_NAMES)
    cases = [*(f() for f in SCENARIO_SIGNALS.values()), signals(drift("x"), perf_drop(0.6), deploy=DeploySnapshot()),
             signals(latency("3"), **CANARY)]
    seen = set()
    for s in cases:
        for call in run_plan(s):
            allowed, required = params[call.name]
            assert required <= set(call.args) <= allowed, call
            seen.add(call.name)
    assert seen >= {"slo_status", "recent_deploys", "compare_versions", "training_run", "recall_incidents",
                    "performance", "model_status"}


NEW_CHAMPION = {"deploy": DeploySnapshot(champion="2", previous_champion="1", updated_at=T0 + 120)}


@pytest.mark.parametrize("by_version, category, action", [
    # v1 (the old champion) made most of the window's decisions on drifted inputs; v2 does as well as it:
    # the drop is the drift's, not the release's
    ({"1": {"f1": 0.70, "n": 2000}, "2": {"f1": 0.72, "n": 300}}, "data_drift", "retrain"),
    # v2's own decisions are much worse than v1's on the same traffic: the release is to blame
    ({"1": {"f1": 0.84, "n": 2000}, "2": {"f1": 0.55, "n": 300}}, "bad_release", "rollback"),
    # too few labels for v2 to judge it: with drifted inputs, the drift explains the drop
    ({"1": {"f1": 0.70, "n": 2000}, "2": {"f1": 0.40, "n": 5}}, "data_drift", "retrain"),
])
def test_a_release_is_blamed_only_on_its_own_decisions(by_version, category, action):
    case = signals(drift("total_day_minutes"), perf_drop(0.70), realised_by_version=by_version, **NEW_CHAMPION)
    d = diagnose(case)
    assert (d.category, d.action) == (category, action)


REPLACED_V1 = {"f1": 0.847, "auc": 0.92}


@pytest.mark.parametrize("findings, by_version, own_test_f1, category, action", [
    # a promoted bad model matches its own test metrics (no performance finding), but its decisions score far
    # below the test F1 of the champion it replaced: a bad release
    ((), {"2": {"f1": 0.25, "n": 200}}, 0.247, "bad_release", "rollback"),
    # a healthy release scores near the replaced champion: nothing to do
    ((), {"2": {"f1": 0.80, "n": 200}}, 0.85, "none", "none"),
    # too few labels of its own to blame it
    ((), {"2": {"f1": 0.25, "n": 10}}, 0.247, "none", "none"),
    # drifted inputs and a release as good as its predecessor on the test set: the drift's fault, not the release's
    ((drift("total_day_minutes"), perf_drop(0.55, ref=0.85)), {"2": {"f1": 0.55, "n": 200}}, 0.85,
     "data_drift", "retrain"),
    # drifted inputs, but the release was already worse on its own test set: still the release
    ((drift("total_day_minutes"),), {"2": {"f1": 0.30, "n": 200}}, 0.40, "bad_release", "rollback"),
])
def test_a_promoted_release_is_judged_against_the_champion_it_replaced(findings, by_version, own_test_f1,
                                                                     category, action):
    case = signals(*findings, realised_by_version=by_version, previous_reference=REPLACED_V1,
                   reference={"f1": own_test_f1, "auc": 0.9}, realised={"f1": by_version["2"]["f1"]}, **NEW_CHAMPION)
    d = diagnose(case)
    assert (d.category, d.action) == (category, action), d.summary
    if category == "bad_release":
        assert d.culprit == ["2"] and any("replaced" in e.detail for e in d.evidence)


def test_without_a_replaced_champion_the_old_rules_hold():
    case = signals(realised_by_version={"1": {"f1": 0.25, "n": 200}}, reference={"f1": 0.247}, realised={"f1": 0.25})
    assert diagnose(case).category == "none"
