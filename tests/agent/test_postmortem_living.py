"""The post-mortem as a living document: the Markdown contract, each later event re-deriving status, resolution
and action items, concrete 'what changed', decision-term impact, and the consistency checks."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from agent.diagnosis import DeploySnapshot, Diagnosis, TriageSignals
from agent.memory import MemoryHit
from agent.proposals import Evidence, RetrainProposal, RollbackProposal
from agent.reports import (
    PostMortemEvent,
    TimelineEvent,
    apply_event,
    build_postmortem,
    load_postmortem,
    save_postmortem,
)
from agent.reports.postmortem_facts import consistency
from agent.reports.render import render_postmortem
from ml_core.monitoring.check import Finding
from ml_core.monitoring.decision_impact import DecisionImpact, decision_impact
from ml_core.monitoring.shift_stats import FeatureShift, SliceShift, feature_shifts
from ml_core.paths import HomeLayout

T0 = 1_736_000_000.0  # 2025-01-04T14:13:20Z
DRIFT = "total_day_minutes drifted: wasserstein 0.789 (threshold 0.1), p=1.8e-60"
SECTIONS = ["Summary", "Impact", "Detection", "Trigger and root cause", "Resolution", "Action items", "Lessons",
            "Timeline", "Links"]


def _signals(**kw) -> TriageSignals:
    findings = [
        Finding(kind="feature_drift", severity="warning", subject="total_day_minutes",
                message=DRIFT,
                evidence={"statistic": 0.789, "threshold": 0.1, "p_value": 1.8e-60}),
        Finding(kind="performance_drop", severity="critical", subject="f1",
                message="realised f1 0.708 vs 0.843 (1000 labels)", evidence={"realised": 0.708, "reference": 0.843})]
    shift = FeatureShift(feature="total_day_minutes", kind="numeric", n_reference=5000, n_window=1000,
                         reference={"mean": 180.0, "p50": 179.0, "p90": 240.0},
                         window={"mean": 225.0, "p50": 224.0, "p90": 300.0},
                         slices=[SliceShift(column="international_plan", value="no", n=900, moved=0.9)])
    base = dict(model="churn", window_since=T0 - 600, window_until=T0, n_predictions=1000, n_labelled=1000,
                deploy=DeploySnapshot(champion="1", running=True, ready=True), findings=findings,
                realised={"f1": 0.708, "auc": 0.893}, estimated={"f1": 0.776, "auc": 0.943},
                reference={"f1": 0.843, "auc": 0.920},
                importance={"total_day_minutes": 0.4, "number_customer_service_calls": 0.3, "international_plan": 0.1},
                feature_shifts=[shift],
                decisions=DecisionImpact(n_predictions=1000, n_labelled=1000, missed_positives=61, false_alarms=17,
                                         fallback_answers=0, first_at=T0 - 590, last_at=T0 - 10),
                similar_incidents=[MemoryHit(id="run-1", kind="training_run", model="churn", similarity=0.5,
                                             created_at=T0 - 900, text="churn v1 trained: F1 0.843")])
    return TriageSignals(**{**base, **kw})


def _diagnosis() -> Diagnosis:
    return Diagnosis(detected=True, category="data_drift", culprit=["total_day_minutes"], action="retrain",
                     summary="performance fell while total_day_minutes drifted.", confidence=0.8,
                     # with the identities the offline policy gives them (agent.policy.rules._evidence)
                     evidence=[Evidence(source="monitoring feature_drift", detail=DRIFT,
                                        fact="feature_drift:total_day_minutes"),
                               Evidence(source="monitoring performance_drop",
                                        detail="realised f1 0.708 vs 0.843 (1000 labels)", fact="realised:f1"),
                               Evidence(source="realised performance",
                                        detail="realised f1 0.708 vs 0.843 on reference", fact="realised:f1")])


def _retrain() -> RetrainProposal:
    return RetrainProposal(model="churn", title="Retrain churn", rationale="drift", champion_version="1",
                           expires_at=T0 + 3600, brain="offline policy", incident_id="inc-1", window_since=T0 - 600,
                           window_until=T0, estimated_train_seconds=60)


def _build(proposal=None, signals=None):
    timeline = [TimelineEvent(at=T0 + 1, event="monitoring check: 2 finding(s) over 1000 predictions:")]
    return build_postmortem(signals or _signals(), _diagnosis(), proposal, incident_id="inc-1", timeline=timeline,
                            usage="no LLM calls (offline policy)", now=T0 + 5)


def _boxes(md: str) -> list[tuple[bool, str]]:
    return [(m.group(1) == "x", m.group(2)) for m in re.finditer(r"^- \[([ x])\] (.*)$", md, re.M)]


def test_the_markdown_keeps_the_contract():
    md = render_postmortem(_build(_retrain()))
    lines = md.splitlines()
    assert lines[0] == "# churn: data drift in total_day_minutes (retrain proposed)" and "**Status:** open" in lines[:4]
    headings = [line[3:] for line in lines if line.startswith("## ")]
    assert headings == SECTIONS
    cause = md.split("## Trigger and root cause")[1].split("## Resolution")[0]
    assert "**Category:** data_drift" in cause and "**Action:** retrain" in cause and "total_day_minutes" in cause
    # what changed, in numbers: the mean and quantiles, the slice, the model's reliance
    assert "mean 180 -> 225 (+25%)" in cause and "p90 240 -> 300 (+25%)" in cause
    assert "international_plan=no (+0.90 sd, 900 rows)" in cause and "`total_day_minutes` (40%)" in cause
    # the same realised-F1 fact stated twice is listed once, each evidence text once in the document
    assert md.count("realised f1 0.708 vs 0.843") == 1
    assert md.count("wasserstein 0.789") == 1
    # no dangling colon, and recall's own-run hits are named instead of "no similar incidents"
    assert "— monitoring check: 2 finding(s) over 1000 predictions\n" in md
    assert "No similar incidents" not in md and "1 other memories of this model (training run)" in md
    impact = md.split("## Impact")[1].split("## Detection")[0]
    assert "61 missed positives" in impact and "17 false alarms" in impact and "0 of them by a fallback" in impact
    # first answer at T0-590, written at T0+5; the window's answers span 580 s
    assert "at most 10 min from onset to detection" in md and "1000 answers over 10 min" in md
    assert md.split("## Resolution")[1].split("##")[0].strip().startswith("Open — proposal prop-")
    assert [done for done, _ in _boxes(md)] == [False, False, False]


def test_accept_execute_verify_rederive_status_items_and_resolution(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    p = _retrain()
    save_postmortem(layout, _build(p))
    md = apply_event(layout, "inc-1", PostMortemEvent(kind="accepted", text=f"proposal {p.id} accepted by ana via cli",
                                                      at=T0 + 60)).read_text()
    assert "**Status:** open" in md and [d for d, _ in _boxes(md)] == [True, False, False]
    steps = ["gate passed: v2 f1 0.861 vs v1 0.843 (+0.018)", "canary: v2 takes 10% of traffic"]
    apply_event(layout, "inc-1", PostMortemEvent(kind="step", text="", steps=steps, at=T0 + 300))
    md = apply_event(layout, "inc-1", PostMortemEvent(
        kind="executed", text="canary v2 healthy over 100 requests; promoted to champion", verified=True,
        steps=[*steps, "verified: champion v2 is live and ready"], at=T0 + 600)).read_text()
    assert "**Status:** resolved" in md
    boxes = _boxes(md)
    assert [d for d, _ in boxes] == [True, True, False] and boxes[2][1].startswith("Agree with the owners")
    resolution = md.split("## Resolution")[1].split("## Action items")[0]
    assert f"proposal {p.id} accepted by ana via cli" in resolution
    assert "Gate verdict: gate passed: v2 f1 0.861" in resolution and "Canary: canary: v2 takes 10%" in resolution
    assert "Verification: verified: champion v2 is live and ready" in resolution
    assert "awaiting approval" not in md  # the filed line is replaced by what was decided
    pm = load_postmortem(layout.reports_dir / "inc-1")
    assert pm.milestones == ["decided", "accepted", "executed", "verified"]
    assert [e.event for e in pm.timeline].count("canary: v2 takes 10% of traffic") == 1  # steps once each
    assert "went through the gate and a canary" in " ".join(pm.lessons.went_well)


def test_a_rejection_is_wont_fix_and_drops_the_canary_item(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    save_postmortem(layout, _build(_retrain()))
    md = apply_event(layout, "inc-1", PostMortemEvent(kind="rejected", text="proposal rejected by bo via slack",
                                                      at=T0 + 60)).read_text()
    assert "**Status:** won't fix" in md and [d for d, _ in _boxes(md)] == [True, False]
    assert "watch the canary" not in md


def test_a_verified_rollback_only_mitigates_and_signals_clearing_resolves(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    p = RollbackProposal(model="churn", title="roll back v2", rationale="worse", champion_version="1",
                         expires_at=T0 + 3600, brain="offline policy", bad_version="2", target_version="1")
    save_postmortem(layout, _build(p))
    apply_event(layout, "inc-1", PostMortemEvent(kind="accepted", text="accepted", at=T0 + 60))
    md = apply_event(layout, "inc-1", PostMortemEvent(kind="executed", text="rolled back", verified=True,
                                                      at=T0 + 90)).read_text()
    assert "**Status:** mitigated" in md
    assert _boxes(md)[1] == (False, "Find out why v2 regressed before releasing it again")  # a person closes it
    md = apply_event(layout, "inc-1", PostMortemEvent(kind="resolved", text="resolved: 3 quiet checks",
                                                      at=T0 + 900)).read_text()
    assert "**Status:** resolved" in md


def test_a_failed_or_expired_fix_keeps_the_incident_open(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    save_postmortem(layout, _build(_retrain()))
    md = apply_event(layout, "inc-1", PostMortemEvent(kind="expired", text="refused: the approval expired",
                                                      at=T0 + 7200)).read_text()
    assert "**Status:** open" in md and [d for d, _ in _boxes(md)] == [False, False, False]
    assert "refused: the approval expired" in md.split("## Resolution")[1].split("##")[0]


def test_files_written_before_the_sections_still_load(tmp_path):
    folder = tmp_path / "inc-old"
    folder.mkdir()
    (folder / "postmortem.json").write_text(json.dumps({
        "incident_id": "inc-old", "model": "churn", "title": "old", "created_at": T0, "brain": "offline policy",
        "summary": "s", "impact": "i", "root_cause": "r", "action_items": ["Approve prop-1"]}))
    pm = load_postmortem(folder)
    assert pm.status == "open" and pm.action_items[0].text == "Approve prop-1" and not pm.action_items[0].done
    assert [line[3:] for line in render_postmortem(pm).splitlines() if line.startswith("## ")] == SECTIONS


def test_disagreeing_signals_are_explained():
    said = consistency(_signals(), _diagnosis())
    assert len(said) == 1 and "estimate puts auc +0.023 while the realised auc moved -0.027" in said[0]
    harmless = _signals(realised={"f1": 0.845}, estimated={}, reference={"f1": 0.843})
    assert ["drift without harm" in s for s in consistency(harmless, _diagnosis())] == [True]


def test_feature_shifts_measure_the_move_and_where_it_concentrates():
    reference = pd.DataFrame({"x": [10.0] * 50 + [20.0] * 50, "plan": ["a"] * 50 + ["b"] * 50,
                              "color": ["red"] * 80 + ["blue"] * 20})
    window = pd.DataFrame({"x": [10.0] * 40 + [40.0] * 40, "plan": ["a"] * 40 + ["b"] * 40,
                           "color": ["red"] * 40 + ["blue"] * 40})
    [x, color] = feature_shifts(reference, window, ["x", "color", "absent"], categorical=["plan", "color"],
                                slice_columns=["plan"])
    assert x.reference == {"mean": 15.0, "p50": 15.0, "p90": 20.0} and x.window == {"mean": 25.0, "p50": 25.0,
                                                                                     "p90": 40.0}
    # plan=b moved 40 - 20 = 20 = 4 reference standard deviations (std of x is 5.025...); plan=a did not move
    assert [(s.value, round(s.moved, 2)) for s in x.slices] == [("b", 3.98), ("a", 0.0)]
    assert sorted((c.value, c.reference, c.window) for c in color.categories) == [("blue", 0.2, 0.5),
                                                                                  ("red", 0.8, 0.5)]


def test_decision_impact_counts_wrong_decisions_by_kind_and_fallbacks():
    answers = pd.DataFrame({"ts": [T0, T0 + 30, T0 + 60, T0 + 90], "role": ["champion", "fallback", "canary",
                                                                            "champion"]})
    labelled = pd.DataFrame({"predicted": [0, 1, 1, 0], "actual": [1, 0, 1, 1]})
    impact = decision_impact(answers, labelled)
    assert (impact.missed_positives, impact.false_alarms, impact.fallback_answers) == (2, 1, 1)
    assert (impact.first_at, impact.last_at, impact.n_labelled) == (T0, T0 + 90, 4)


@pytest.mark.parametrize("kind", ["accepted", "step"])
def test_events_refuse_an_incident_without_a_postmortem(tmp_path, kind):
    layout = HomeLayout(tmp_path / "home").ensure()
    with pytest.raises(FileNotFoundError, match="no post-mortem for incident 'inc-none'"):
        apply_event(layout, "inc-none", PostMortemEvent(kind=kind, text="x"))
