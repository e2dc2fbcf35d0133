"""The offline policy: each simulator fault's typed signals (as a real deployment measures them) get the scenario's
expected category, culprit and action; benign drift stays a watch; the rules read typed fields, so rewording every
message and note changes nothing; the runbook planner terminates and never repeats.

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
from ml_core.monitoring.performance import PriorShift
from ml_core.monitoring.releases import RegisteredVersion, Release
from ml_core.monitoring.slo import RejectedField, VersionSLO
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


def rates(pred: float, ref_pred: float, actual: tuple[float, float] | None = None) -> PriorShift:
    """The typed positive rates behind a prior_shift finding."""
    return PriorShift(n=1000, predicted_positive_rate=pred, reference_predicted_positive_rate=ref_pred,
                      mean_score=pred, reference_mean_score=ref_pred, predicted_rate_pvalue=1e-6,
                      actual_positive_rate=actual[0] if actual else None,
                      reference_actual_positive_rate=actual[1] if actual else None,
                      actual_rate_pvalue=1e-6 if actual else None, shifted=True)


def shifted(pred: float, ref_pred: float, actual: tuple[float, float] | None = None) -> tuple[Finding, PriorShift]:
    return prior(pred, ref_pred, actual), rates(pred, ref_pred, actual)


def pred_drift() -> Finding:
    return Finding(kind="prediction_drift", severity="warning", subject="score",
                   message="score distribution drifted: wasserstein 0.685", evidence={"statistic": 0.685})


def rejections(rate: float, n: int) -> Finding:
    return Finding(kind="rejection_spike", severity="critical", subject="requests",
                   message=f"{rate:.1%} of rows rejected ({n})", evidence={"rejection_rate": rate})


def nulls(feature: str, share: float = 0.3) -> Finding:
    return Finding(kind="null_share", severity="warning", subject=feature,
                   message=f"{feature} is null in {share:.1%} of rows", evidence={"null_share": share})


def implausible(problem: str, subject: str, columns: list[str], share: float = 1.0) -> Finding:
    return Finding(kind="implausible_values", severity="critical" if share >= 0.5 else "warning", subject=subject,
                   columns=columns, problem=problem, message=f"implausible values ({problem}) in {subject}",
                   evidence={"share": share, "reference_share": 0.0, "count": 1000 * share, "n": 1000.0})


ZEROED_CHARGE = (implausible("stuck_constant", "total_day_charge", ["total_day_charge"]),
                 implausible("broken_relation", "total_day_minutes+total_day_charge", ["total_day_charge"]))


def errors(version: str, rate: float = 1.0) -> Finding:
    return Finding(kind="error_rate_slo", severity="critical", subject=version,
                   message=f"version {version} error/fallback rate {rate:.1%} > 1.0%",
                   evidence={"error_rate": rate, "errors": 150 * rate})


def latency(version: str, p95: float = 410.0) -> Finding:
    return Finding(kind="latency_slo", severity="warning", subject=version,
                   message=f"version {version} p95 latency {p95:.0f} ms > 250 ms", evidence={"p95_ms": p95})


def service(version: str, *, p95: float = 40.0, errors: int = 0, timeouts: int = 0, n: int = 150,
            latency_breached: bool = False) -> VersionSLO:
    """One version's service levels as the monitoring pass measures them (SLOs: 250 ms, 1% errors)."""
    return VersionSLO(version=version, n=n, p50_ms=p95 / 2, p95_ms=p95, p99_ms=p95 * 1.1, errors=errors,
                      timeouts=timeouts, error_rate=errors / n, latency_breached=latency_breached,
                      error_rate_breached=errors / n > 0.01)


def rejected(field: str, problem: str, count: int) -> RejectedField:
    return RejectedField(field=field, problem=problem, count=count)


def signals(*findings: Finding, **kw) -> TriageSignals:
    base = dict(model="churn", window_since=T0, window_until=T0 + 3600, n_predictions=1000, n_labelled=1000,
                deploy=DeploySnapshot(champion="1", running=True, ready=True, updated_at=T0 - 86400),
                reference=REF, realised=REF, findings=list(findings))
    return TriageSignals(**{**base, **kw})


CANARY = dict(deploy=DeploySnapshot(champion="1", canary="3", canary_weight=1.0, running=True, ready=True,
                                    updated_at=T0 + 60),
              release=Release(version="3", how="canary", at=T0 + 60))
LABEL_SHIFT = shifted(0.400, 0.152, (0.455, 0.142))
CONCEPT_PRIOR = shifted(0.139, 0.152, (0.214, 0.142))
ACTUAL_HELD = shifted(0.232, 0.130, (0.141, 0.142))  # a drifted categorical moves the predicted rate only
PREDICTED_ONLY = shifted(0.25, 0.152)  # no labels

# Each built-in scenario, as its fault shows up in the monitoring pass's findings and typed facts.
SCENARIO_SIGNALS: dict[str, Callable[[], TriageSignals]] = {
    "no_fault": lambda: signals(),
    "covariate_drift": lambda: signals(drift("total_day_minutes"), perf_drop(0.758),
                                       realised={**REF, "f1": 0.758, "auc": 0.893}),
    "concept_drift": lambda: signals(CONCEPT_PRIOR[0], perf_drop(0.317), prior=CONCEPT_PRIOR[1],
                                     realised={**REF, "f1": 0.317, "auc": 0.45}),
    "label_shift": lambda: signals(drift("state", 0.147), drift("number_customer_service_calls", 0.162), pred_drift(),
                                   LABEL_SHIFT[0], prior=LABEL_SHIFT[1], realised={**REF, "f1": 0.915}),
    "null_storm": lambda: signals(rejections(0.99, 990), n_predictions=10, n_labelled=10, realised={},
                                  rejected_fields=[rejected("total_eve_charge", "null", 31),
                                                   rejected("total_eve_minutes", "null", 29)]),
    "schema_break": lambda: signals(rejections(1.0, 600), n_predictions=0, n_labelled=0, realised={},
                                    rejected_fields=[rejected("account_length", "wrong_type", 600),
                                                     rejected("total_night_minutes", "missing", 600)]),
    # a slow release times out into fallbacks: errors charged to it, each one a timeout
    "slow_release": lambda: signals(errors("3"), **CANARY, slo_by_version=[
        service("1", n=10), service("3", p95=162.4, errors=150, timeouts=150)]),
    "broken_release": lambda: signals(errors("3", 0.9), **CANARY, slo_by_version=[
        service("1", n=10), service("3", p95=12.0, errors=135)]),
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


NEW_V4 = dict(deploy=DeploySnapshot(champion="4", running=True, updated_at=T0 - 86400),
              release=Release(version="4", how="registered", at=T0 + 30),
              recent_versions=[RegisteredVersion(version="4", registered_at=T0 + 30, aliases=["champion"],
                                                 in_window=True)])
PROMOTED_V4 = dict(deploy=DeploySnapshot(champion="4", previous_champion="3", updated_at=T0 + 120),
                   release=Release(version="4", how="promoted", at=T0 + 120))

RULE_CASES = {
    # rule 1: service levels
    "latency-slo": (signals(latency("3"), errors("3"), **CANARY), "latency", ["3"], "rollback"),
    "errors-that-are-timeouts": (
        signals(errors("3"), **CANARY, slo_by_version=[service("3", errors=150, timeouts=150)]),
        "latency", ["3"], "rollback"),
    "errors-whose-version-breaches-latency": (
        signals(errors("3"), **CANARY, slo_by_version=[service("3", p95=300, errors=150, latency_breached=True)]),
        "latency", ["3"], "rollback"),
    "errors-that-are-crashes": (signals(errors("3"), **CANARY, slo_by_version=[service("3", errors=150)]),
                                "errors", ["3"], "rollback"),
    "errors-without-service-levels": (signals(errors("3"), **CANARY), "errors", ["3"], "rollback"),
    # tie-break: among breaching versions the slow ones are blamed
    "slow-version-blamed-over-failing-one": (
        signals(errors("2"), errors("3"), slo_by_version=[service("2", errors=150), service("3", errors=150,
                                                                                          timeouts=150)]),
        "latency", ["3"], "rollback"),
    "two-failing-versions": (signals(errors("2"), errors("3")), "errors", ["2", "3"], "rollback"),
    # tie-break: a service breach outranks rejections and a performance drop
    "errors-before-quality-and-performance": (
        signals(rejections(0.5, 500), perf_drop(0.6), errors("3"), **CANARY), "errors", ["3"], "rollback"),
    # rule 2: data quality
    "null-share": (signals(nulls("total_eve_charge")), "data_quality", ["total_eve_charge"], "fix_data"),
    "null-share-first-then-rejected-fields": (
        signals(rejections(0.5, 500), nulls("total_day_calls"), rejected_fields=[
            rejected("account_length", "out_of_range", 40), rejected("records", "bad_body", 9),
            rejected("total_day_calls", "null", 5), rejected("state", "unknown_category", 3)]),
        "data_quality", ["total_day_calls", "account_length", "state"], "fix_data"),
    "whole-request-rejections-name-no-field": (
        signals(rejections(0.5, 500), rejected_fields=[rejected("records", "batch_too_large", 3)]),
        "data_quality", [], "fix_data"),
    # implausible values: the zeroed feed the drift detector also sees is broken data, not drift
    "zeroed-column-beats-its-drift": (signals(drift("total_day_charge"), perf_drop(0.6), *ZEROED_CHARGE),
                                      "data_quality", ["total_day_charge"], "fix_data"),
    "own-problems-before-broken-pairs": (
        signals(implausible("broken_relation", "total_eve_minutes+total_eve_charge",
                            ["total_eve_minutes", "total_eve_charge"], 0.2),
                implausible("out_of_range", "number_customer_service_calls", ["number_customer_service_calls"], 0.1)),
        "data_quality", ["number_customer_service_calls", "total_eve_minutes", "total_eve_charge"], "fix_data"),
    "nulls-then-implausible": (signals(nulls("total_eve_charge"), implausible("zero_jump", "Amount", ["Amount"], 0.2)),
                               "data_quality", ["total_eve_charge", "Amount"], "fix_data"),
    "quality-before-performance": (signals(perf_drop(0.6), rejections(0.5, 500), **CANARY), "data_quality", [],
                                   "fix_data"),
    # rule 3: realised performance
    "perf-drop+canary": (signals(perf_drop(0.6), **CANARY), "bad_release", ["3"], "rollback"),
    "perf-drop+new-champion": (signals(perf_drop(0.6), **NEW_V4), "bad_release", ["4"], "rollback"),
    "perf-drop+promotion": (signals(perf_drop(0.6), **PROMOTED_V4), "bad_release", ["4"], "rollback"),
    "perf-drop+drift": (signals(drift("total_day_minutes"), perf_drop(0.6)), "data_drift", ["total_day_minutes"],
                        "retrain"),
    "perf-drop-alone": (signals(perf_drop(0.6), est_drop(0.7)), "concept_drift", [], "retrain"),
    # tie-break: a performance drop whose AUC fell outranks a moved actual rate (concept drift moves it too) ...
    "perf-drop-before-label-shift": (signals(CONCEPT_PRIOR[0], perf_drop(0.317), prior=CONCEPT_PRIOR[1],
                                             realised={**REF, "f1": 0.317, "auc": 0.45}),
                                     "concept_drift", [], "retrain"),
    # ... but an F1 drop with the AUC held is what fewer positives do to F1: the label shift's, not a retrain's
    "f1-drop-with-auc-held-is-label-shift": (signals(drift("Income"), perf_drop(0.44, 0.671), LABEL_SHIFT[0],
                                                     prior=shifted(0.304, 0.413, (0.110, 0.282))[1],
                                                     realised={**REF, "f1": 0.44, "auc": 0.89}),
                                             "label_shift", [], "retune_threshold"),
    # rule 4: label shift; the actual rate outranks drift, the predicted rate only without drift
    "actual-rate-moved-with-drift": (signals(drift("state"), LABEL_SHIFT[0], prior=LABEL_SHIFT[1]),
                                     "label_shift", [], "retune_threshold"),
    "actual-rate-held-with-drift": (signals(drift("international_plan"), ACTUAL_HELD[0], prior=ACTUAL_HELD[1],
                                            realised={**REF, "f1": 0.79}),
                                    "data_drift", ["international_plan"], "retrain"),
    "predicted-prior-only": (signals(PREDICTED_ONLY[0], prior=PREDICTED_ONLY[1], n_labelled=0, realised={}),
                             "label_shift", [], "retune_threshold"),
    "predicted-prior-with-drift": (signals(drift("state"), prior(0.25, 0.152), prior=rates(0.25, 0.152),
                                           n_labelled=0, realised={}), "data_drift", ["state"], "none"),
    # rule 5: feature drift, harmful or benign
    "drift+realised-harm": (signals(drift("total_day_minutes"), realised={**REF, "f1": 0.77}), "data_drift",
                            ["total_day_minutes"], "retrain"),  # realised F1 down 0.077: under the alert, still harm
    "drift+estimated-drop": (signals(drift("total_day_minutes"), est_drop(0.70)), "data_drift", ["total_day_minutes"],
                             "retrain"),
    "benign-drift": (signals(drift("total_day_minutes"), realised={**REF, "f1": 0.84}), "data_drift",
                     ["total_day_minutes"], "none"),
    "drift-no-labels": (signals(drift("account_length"), n_labelled=0, realised={}), "data_drift",
                        ["account_length"], "none"),
    "estimate-only": (signals(est_drop(0.70), n_labelled=0, realised={}), "data_drift", [], "none"),
    "prediction-drift-only": (signals(pred_drift(), n_labelled=0, realised={}), "data_drift", [], "none"),
}


@pytest.mark.parametrize("name", sorted(RULE_CASES))
def test_rules(name):
    case, category, culprit, action = RULE_CASES[name]
    d = diagnose(case)
    assert d.detected
    assert (d.category, d.culprit, d.action) == (category, culprit, action), d.summary


def test_a_prior_shift_without_its_rates_is_not_a_moved_actual_rate():
    # the finding's message says the actual rate moved, but no typed rates came with it: the message is not read
    case = signals(drift("state"), prior(0.40, 0.152, (0.455, 0.142)), realised={**REF, "f1": 0.84})
    assert (diagnose(case).category, diagnose(case).action) == ("data_drift", "none")


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
    assert (alone.confidence, both.confidence) == (0.8, 0.9)  # the canary that went live agrees with both
    weak = diagnose(signals(PREDICTED_ONLY[0], prior=PREDICTED_ONLY[1], n_labelled=0, realised={}))
    strong = diagnose(SCENARIO_SIGNALS["label_shift"]())  # the actual rate, the score drift and the drift agree
    assert (weak.confidence, strong.confidence) == (0.65, 0.85)
    assert diagnose(signals()).detected is False


# ---- the rules read typed fields, never our own text ----------------------------------------------------
# Notes that the old text-reading rules would have acted on: a slo_status JSON saying v3 breaches latency,
# a "timed out" line, a rejected-field list, "new in this window" on a deploy line.
MISLEADING_NOTES = [
    'slo_status: {"versions":[{"version":"3","n":150,"p95_ms":410.0,"latency_breached":true}],'
    '"breaches":["v3 p95 410 ms > 250 ms"]}',
    "compare_versions: v3 timed out on every request",
    "rejected fields: account_length (wrong_type) ×600, total_night_minutes (missing) ×600",
]
MISLEADING_DEPLOYS = ["v1 registered 2023-11-14 22:40:00 UTC (new in this window); aliases ['champion']; {}"]


def _reworded(s: TriageSignals, text: str, notes: list[str], deploys: list[str]) -> TriageSignals:
    out = s.model_copy(deep=True)
    out.findings = [f.model_copy(update={"message": text}) for f in out.findings]
    out.summary, out.notes, out.recent_deploys = text, notes, deploys
    out.similar_incidents = [h.model_copy(update={"text": text}) for h in out.similar_incidents]
    return out


REPRESENTATIVE = {**{f"scenario-{k}": f for k, f in SCENARIO_SIGNALS.items()},
                  **{f"rule-{k}": (lambda c=case: c[0]) for k, case in RULE_CASES.items()}}


@pytest.mark.parametrize("name", sorted(REPRESENTATIVE))
def test_rewording_every_message_and_note_changes_no_diagnosis(name):
    s = REPRESENTATIVE[name]()
    decision = {"detected", "category", "culprit", "action", "confidence"}
    before = diagnose(s).model_dump(include=decision)
    for notes, deploys in (([], []), (["x"], ["x"]), (MISLEADING_NOTES, MISLEADING_DEPLOYS)):
        after = _reworded(s, "x", notes, deploys)
        assert diagnose(after).model_dump(include=decision) == before
        # the runbook only asks whether a deploy history is there, never what it says
        plan_before = run_plan(s.model_copy(update={"recent_deploys": deploys}))
        assert [(c.name, c.args) for c in run_plan(after)] == [(c.name, c.args) for c in plan_before]


def test_the_policy_has_no_regular_expression_and_no_schema_import():
    for path in (Path(__file__).parents[2] / "agent" / "policy").glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert "re" not in imported and "CHURN_SCHEMA" not in names, path.name
        assert len(path.read_text().splitlines()) < 300, path.name


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


def test_errors_plan_skips_slo_status_when_the_monitoring_pass_saw_timeouts():
    calls = run_plan(SCENARIO_SIGNALS["slow_release"]())
    assert [c.name for c in calls] == ["recent_deploys", "compare_versions"]
    assert [c.name for c in run_plan(SCENARIO_SIGNALS["broken_release"]())][0] == "slo_status"


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


NEW_CHAMPION = {"deploy": DeploySnapshot(champion="2", previous_champion="1", updated_at=T0 + 120),
                "release": Release(version="2", how="promoted", at=T0 + 120)}


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


# ---- Step 7: shadow evaluation, slices, reliance on drifted features ---------------------------------------------
def shadow(**kw):
    from ml_core.monitoring.shadow import ShadowComparison

    base = dict(release="3", baseline="1", how="promoted", n=1000, disagreement=0.12)
    return ShadowComparison(**{**base, **kw})


PROMOTED = dict(deploy=DeploySnapshot(champion="3", previous_champion="1", running=True, ready=True,
                                      updated_at=T0 + 60), release=Release(version="3", how="promoted", at=T0 + 60))


def test_a_release_worse_than_its_baseline_on_the_same_records_is_rolled_back_with_no_drop_flagged() -> None:
    # Nothing flagged: the bad model matches its own (bad) test metrics; the shadow shows what it costs.
    s = signals(**PROMOTED, shadow=shadow(n_labelled=1000, release_only_wrong=90, baseline_only_wrong=20,
                                          p_value=1e-12, release_f1=0.52, baseline_f1=0.85, worse=True))
    d = diagnose(s)
    assert (d.category, d.culprit, d.action) == ("bad_release", ["3"], "rollback")
    assert any(e.source == "shadow evaluation" and "McNemar" in e.detail for e in d.evidence)


def test_a_release_the_shadow_clears_is_not_blamed_for_a_drop_its_baseline_shares() -> None:
    s = signals(drift("total_day_minutes"), perf_drop(0.70), realised={**REF, "f1": 0.70}, **PROMOTED,
                realised_by_version={"3": {"f1": 0.70, "n": 1000}},
                shadow=shadow(n_labelled=1000, release_only_wrong=30, baseline_only_wrong=34, p_value=0.7,
                              release_f1=0.70, baseline_f1=0.69))
    d = diagnose(s)
    assert (d.category, d.action) == ("data_drift", "retrain")


def test_before_labels_an_estimated_worse_canary_is_rolled_back_unless_the_inputs_drifted() -> None:
    est = shadow(how="canary", disagreement=0.45, estimated_release_f1=0.31, estimated_baseline_f1=0.80,
                 estimated_worse=True)
    quiet = signals(n_labelled=0, realised={}, **CANARY, shadow=est.model_copy(update={"release": "3"}))
    assert (diagnose(quiet).category, diagnose(quiet).action) == ("bad_release", "rollback")
    drifted_inputs = signals(drift("total_day_minutes"), n_labelled=0, realised={}, **CANARY, shadow=est)
    assert diagnose(drifted_inputs).category == "data_drift"  # the baseline is no fair judge of drifted inputs


def test_a_slice_regression_with_steady_inputs_is_concept_drift_named_by_the_slice() -> None:
    from ml_core.monitoring.slices import SliceRegression

    reg = SliceRegression(column="Home", value="rent", n=220, error_rate=0.41, reference_n=180,
                          reference_error_rate=0.19, p_value=1e-8)
    d = diagnose(signals(slice_regressions=[reg]))
    assert (d.detected, d.category, d.culprit, d.action) == (True, "concept_drift", ["Home=rent"], "retrain")


IMPORTANCE = {"total_day_minutes": 0.40, "number_customer_service_calls": 0.25, "international_plan": 0.2,
              "total_night_calls": 0.01, **{f"other_{i}": 0.14 / 15 for i in range(15)}}


def test_unlabelled_drift_the_model_leans_on_is_a_retrain_once_labels_confirm() -> None:
    s = signals(drift("total_day_minutes"), pred_drift(), n_labelled=0, realised={}, importance=IMPORTANCE)
    d = diagnose(s)
    assert (d.category, d.culprit, d.action) == ("data_drift", ["total_day_minutes"], "retrain")
    assert "once labels confirm" in d.summary and "not measured" in d.summary


def test_unlabelled_drift_in_a_feature_the_model_barely_uses_is_watched() -> None:
    s = signals(drift("total_night_calls"), pred_drift(), n_labelled=0, realised={}, importance=IMPORTANCE)
    d = diagnose(s)
    assert (d.category, d.action) == ("data_drift", "none")
    leaned_but_scores_still = signals(drift("total_day_minutes"), n_labelled=0, realised={}, importance=IMPORTANCE)
    assert diagnose(leaned_but_scores_still).action == "none"


def test_with_enough_labels_reliance_does_not_override_measured_harmlessness() -> None:
    held = rates(0.2, 0.15, (0.14, 0.14)).model_copy(update={"shifted": False})
    s = signals(drift("total_day_minutes"), pred_drift(), importance=IMPORTANCE, prior=held)  # 1000 labels, AUC held
    assert diagnose(s).action == "none"


def test_a_zeroed_feed_through_the_real_check_is_fixed_not_retrained():
    """The issue's case end to end: churn's billing feed writes 0 for total_day_charge while total_day_minutes keeps
    its values. The monitoring check also calls the charge drifted; the policy must say fix the feed, not retrain."""
    from ml_core.data.tables import split_frame
    from ml_core.monitoring.check import run_check
    from ml_core.spec.builtin import builtin_spec
    from ml_core.spec.data import load_spec_data

    spec = builtin_spec("churn")
    split = split_frame(load_spec_data(spec), spec.schema)
    window = split.test.head(400).copy()
    window["total_day_charge"] = 0.0
    window["score"], window["latency_ms"], window["version"], window["role"] = 0.2, 20.0, "1", "champion"
    result = run_check(split.train, None, window, schema=spec.schema)
    assert "total_day_charge" in result.drifted_features  # what used to be read as drift
    d = diagnose(signals(*result.findings))
    assert (d.category, d.action, d.culprit) == ("data_quality", "fix_data", ["total_day_charge"]), d.summary


def test_leaned_on_drift_is_a_retrain_while_the_labels_cannot_rule_out_harm() -> None:
    few = rates(0.2, 0.15, (0.14, 0.14)).model_copy(update={"shifted": False})
    slipped = signals(drift("total_day_minutes"), pred_drift(), importance=IMPORTANCE, n_labelled=300,
                      realised={**REF, "auc": 0.89}, prior=few)  # 0.017 down on 42 positives: harm not ruled out
    d = diagnose(slipped)
    assert (d.category, d.action) == ("data_drift", "retrain") and "cannot rule out" in d.summary
    held = signals(drift("total_day_minutes"), pred_drift(), importance=IMPORTANCE, n_labelled=5000,
                   realised={**REF, "auc": 0.9067}, prior=few)  # 5,000 labels and no drop at all: ruled out
    assert diagnose(held).action == "none"
    unused = signals(drift("total_night_calls"), pred_drift(), importance=IMPORTANCE, n_labelled=300,
                     realised={**REF, "auc": 0.89}, prior=few)
    assert diagnose(unused).action == "none"
