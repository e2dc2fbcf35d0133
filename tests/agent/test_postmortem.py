"""The templated post-mortem writer, its files on disk, and the proposal renderers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.diagnosis import DeploySnapshot, Diagnosis, TriageSignals
from agent.memory import MemoryHit
from agent.proposals import (
    Evidence,
    FixDataProposal,
    PromoteProposal,
    RetrainProposal,
    RollbackProposal,
    ThresholdProposal,
)
from agent.reports import (
    TimelineEvent,
    append_decision,
    build_postmortem,
    load_postmortem,
    proposal_summary,
    render_proposal,
    save_postmortem,
)
from ml_core.monitoring.check import Finding
from ml_core.paths import HomeLayout

T0 = 1_736_000_000.0  # 2025-01-04T14:13:20Z
RUN_ID = "3f2a9c0d4e5b6a7f8091a2b3c4d5e6f7"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32  # the copy is byte-compared, so any payload will do


def _signals(tmp_path: Path) -> TriageSignals:
    plot = tmp_path / "drift" / "20250104T141320Z" / "total_day_minutes.png"
    plot.parent.mkdir(parents=True)
    plot.write_bytes(PNG)
    (plot.parent / "report.html").write_text("<html></html>")
    findings = [
        Finding(kind="feature_drift", severity="warning", subject="total_day_minutes",
                message="total_day_minutes drifted: wasserstein 0.412 (threshold 0.1), p=3.1e-12",
                evidence={"statistic": 0.412, "threshold": 0.1, "p_value": 3.1e-12}),
        Finding(kind="feature_drift", severity="warning", subject="total_eve_calls",
                message="total_eve_calls drifted: wasserstein 0.108 (threshold 0.1), p=0.0004",
                evidence={"statistic": 0.108, "threshold": 0.1, "p_value": 0.0004}),
        Finding(kind="performance_drop", severity="critical", subject="f1",
                message="realised f1 0.512 vs 0.781 (240 labels)", evidence={"realised": 0.512, "reference": 0.781}),
    ]
    return TriageSignals(
        model="churn", window_since=T0 - 3600, window_until=T0, n_predictions=1200, n_labelled=240,
        deploy=DeploySnapshot(champion="1", running=True, ready=True), findings=findings,
        drift_report_dir=str(plot.parent), drift_plots=[str(plot)],
        realised={"f1": 0.512, "auc": 0.801}, reference={"f1": 0.781, "auc": 0.902},
        similar_incidents=[MemoryHit(id="incident-1a2b3c", kind="incident", model="churn", similarity=0.83,
                                     created_at=T0 - 86400,
                                     text="churn: data drift in total_day_minutes; retrain fixed it")])


def _diagnosis(**kw) -> Diagnosis:
    base = dict(detected=True, category="data_drift", culprit=["total_day_minutes"], action="retrain",
                summary="total_day_minutes shifted upward and realised F1 fell from 0.781 to 0.512.",
                evidence=[Evidence(source="drift screen", detail="total_day_minutes wasserstein 0.412 > 0.1")],
                confidence=0.85)
    return Diagnosis(**{**base, **kw})


def _retrain() -> RetrainProposal:
    return RetrainProposal(model="churn", title="Retrain churn on the last hour", rationale="Drift in minutes.",
                           champion_version="1", expires_at=T0 + 86400, brain="offline policy",
                           incident_id="inc-drift-1", window_since=T0 - 3600, window_until=T0,
                           expected_gain="win back ~0.2 F1", estimated_train_seconds=90, estimated_cost_usd=0.08,
                           rollback_plan="keep champion v1; drop the canary")


def _build(tmp_path: Path, proposal=None, diagnosis=None):
    timeline = [TimelineEvent(at=T0 + 5, event="proposal filed"), TimelineEvent(at=T0, event="drift detected")]
    return build_postmortem(_signals(tmp_path), diagnosis or _diagnosis(), proposal, incident_id="inc-drift-1",
                            timeline=timeline, usage="no LLM calls (offline policy)",
                            links={"training run": RUN_ID, "MLflow": "/home/mlflow.db"}, now=T0 + 10)


def test_templated_postmortem_cites_the_cause_impact_and_the_proposal(tmp_path):
    prop = _retrain()
    pm = _build(tmp_path, prop)
    assert pm.brain == "offline policy" and pm.title == "churn: data drift in total_day_minutes (retrain proposed)"
    assert "Data drift" in pm.root_cause and "total_day_minutes" in pm.root_cause and "0.85" in pm.root_cause
    assert "1200 predictions" in pm.impact and "Realised: f1 0.512 (-0.269 vs 0.781)" in pm.impact
    assert pm.decisions == [f"proposal {prop.id} filed, awaiting approval"]
    assert prop.id in pm.action_items[0].text and "canary at 10%" in pm.action_items[1].text
    assert [t.event for t in pm.timeline] == ["drift detected", "proposal filed"]
    assert pm.links["champion v1"] == "models:/churn/1" and pm.links["training run"] == RUN_ID
    assert pm.links["drift report"].endswith("report.html")
    # only the drift statistic that barely crossed its threshold is flagged as borderline
    assert len(pm.threshold_updates) == 1 and pm.threshold_updates[0].startswith("total_eve_calls")
    assert pm.similar_incidents == ["incident-1a2b3c (0.83): churn: data drift in total_day_minutes; retrain fixed it"]
    details = [e.detail for e in pm.evidence]
    assert details[0].startswith("total_day_minutes wasserstein") and len(details) == len(set(details)) == 4


def test_save_writes_markdown_with_links_and_copied_plots(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    pm = _build(tmp_path)
    md_path = save_postmortem(layout, pm)
    folder = layout.reports_dir / "inc-drift-1"
    assert md_path == folder / "postmortem.md"
    assert (folder / "plots" / "total_day_minutes.png").read_bytes() == PNG
    md = md_path.read_text()
    assert "![total_day_minutes](plots/total_day_minutes.png)" in md
    assert RUN_ID in md and "models:/churn/1" in md and "Data drift" in md
    assert "2025-01-04T14:13:20Z — drift detected" in md
    assert "no proposal filed (action: retrain)" in md and "File a retrain proposal" in md
    back = load_postmortem(md_path)
    assert back.drift_plots == ["plots/total_day_minutes.png"]
    assert back.model_dump(exclude={"drift_plots"}) == pm.model_dump(exclude={"drift_plots"})
    # the folder is self-contained: saving again (e.g. from the loaded copy) keeps the plot
    Path(pm.drift_plots[0]).unlink()
    save_postmortem(layout, back)
    assert load_postmortem(folder).drift_plots == ["plots/total_day_minutes.png"]


def test_decisions_appended_later_show_up_in_both_files(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    prop = _retrain()
    save_postmortem(layout, _build(tmp_path, prop))
    append_decision(layout, "inc-drift-1", "approved by ana via slack", at=T0 + 60)
    md_path = append_decision(layout, "inc-drift-1", "promoted v2 to champion", at=T0 + 600)
    data = json.loads((md_path.parent / "postmortem.json").read_text())
    assert data["decisions"] == [f"proposal {prop.id} filed, awaiting approval",
                                 "2025-01-04T14:14:20Z approved by ana via slack",
                                 "2025-01-04T14:23:20Z promoted v2 to champion"]
    assert [e["event"] for e in data["timeline"]][-2:] == ["approved by ana via slack", "promoted v2 to champion"]
    md = md_path.read_text()
    assert "2025-01-04T14:14:20Z approved by ana via slack" in md and "promoted v2 to champion" in md


def test_append_and_save_refuse_bad_incidents_with_clear_messages(tmp_path):
    layout = HomeLayout(tmp_path / "home").ensure()
    with pytest.raises(FileNotFoundError, match="no post-mortem for incident 'inc-missing'"):
        append_decision(layout, "inc-missing", "approved")
    with pytest.raises(ValueError, match="not a safe folder name"):
        append_decision(layout, "../etc", "approved")
    with pytest.raises(FileNotFoundError, match="save_postmortem"):
        load_postmortem(tmp_path / "nowhere")


def _common(**kw):
    return dict(model="churn", title="t", rationale="r", champion_version="2", expires_at=T0 + 3600,
                brain="offline policy", **kw)


@pytest.mark.parametrize(("proposal", "action", "expected"), [
    (RollbackProposal(**_common(bad_version="3", target_version="2")), "rollback", "take v3 out of traffic"),
    (FixDataProposal(**_common(features=["total_day_minutes"], problem="40% nulls")), "fix_data",
     "Fix the upstream feed for total_day_minutes: 40% nulls"),
    (ThresholdProposal(**_common(version="2", current_threshold=0.5, proposed_threshold=0.35)), "retune_threshold",
     "decision threshold 0.50 -> 0.35"),
])
def test_action_items_follow_the_action(tmp_path, proposal, action, expected):
    pm = _build(tmp_path, proposal, _diagnosis(action=action))
    texts = [a.text for a in pm.action_items]
    assert expected in texts[0] and not any(a.done for a in pm.action_items)
    assert ("Do not retrain on this window: it holds the broken records" in texts) == (action == "fix_data")
    assert any("0.50 -> 0.35" in t for t in pm.threshold_updates) == (action == "retune_threshold")


def test_nothing_detected_says_keep_watching(tmp_path):
    pm = _build(tmp_path, None, Diagnosis(detected=False, summary="All checks passed."))
    assert pm.title == "churn: no incident" and pm.root_cause.startswith("No incident")
    assert [a.text for a in pm.action_items] == ["Keep watching: the next scheduled triage re-checks the model"]
    assert pm.status == "resolved"


def test_render_proposal_marks_editable_fields_and_costs():
    prop = _retrain()
    md = render_proposal(prop, status="pending")
    assert md.startswith("# Retrain churn on the last hour")
    assert "| **Status** | pending |" in md and "champion v1 (execution refuses" in md
    assert "| **Expires** | 2025-01-05T14:13:20Z |" in md
    assert "| epochs | 40 | editable |" in md and "| window_since | 2025-01-04T13:13:20Z | editable |" in md
    assert "~1.5 min" in md and "~$0.08" in md and "win back ~0.2 F1" in md and "keep champion v1" in md


@pytest.mark.parametrize("proposal", [
    _retrain(), RollbackProposal(**_common(bad_version="3", target_version="2")),
    PromoteProposal(**_common(version="3")), FixDataProposal(**_common(features=["a"], problem="nulls")),
    ThresholdProposal(**_common(version="2", current_threshold=0.5, proposed_threshold=0.35)),
])
def test_every_kind_renders_and_summarises_on_one_line(proposal):
    md = render_proposal(proposal)
    line = proposal_summary(proposal)
    assert proposal.id in md and f"| **Kind** | {proposal.kind} |" in md
    assert "\n" not in line and line.startswith(f"{proposal.id} [{proposal.kind}] churn:")
    assert ("editable" in md) == bool(proposal.editable)
