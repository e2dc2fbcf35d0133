"""An infrastructure post-mortem says the replica state once: the count under Impact, the platform's words and
events under Evidence; the summary, the Resolution's pending page, the action items and the timeline's "opened"
note name the replicas without repeating those figures, so the rubric's "no duplicated evidence" holds."""

from __future__ import annotations

from agent.diagnosis import DeploySnapshot, TriageSignals
from agent.incident_ticks import judge
from agent.policy import diagnose
from agent.proposals import InfrastructureProposal
from agent.reports import TimelineEvent, build_postmortem
from agent.reports.render import proposal_summary, render_postmortem
from evals.postmortem_checks import check_duplicates
from evals.postmortem_expectations import EvidenceFact, FindingFact
from evals.postmortem_markdown import sections
from ml_core.deploy.workload import PodProblem, WorkloadEvent, WorkloadHealth
from ml_core.monitoring.check import Finding

T0 = 1_700_000_000.0
POD = "churn-scoring (pid 7628)"
DETAIL = ("process 7628 is gone: killed by SIGKILL; last log lines: 2026-12-03 06:15:06,323 INFO "
          "ml_core.serving.service: loaded churn version 1 (smoke 25.8 ms)")
COUNT = "0/1 replicas ready, 0 restart(s)"


def _signals() -> TriageSignals:
    health = WorkloadHealth(backend="local", model="churn", desired=1, ready=0, restarts=0,
                            problems=[PodProblem(pod=POD, reason="exited", detail=DETAIL, since=T0 + 300)],
                            events=[WorkloadEvent(type="Warning", reason="Exited", object=POD,
                                                  message="scoring process exited", at=T0 + 300)],
                            observed_at=T0 + 600)
    errors = Finding(kind="error_rate_slo", severity="critical", subject="1", message="version 1 error rate 40.0% "
                     "> 1.0%", evidence={"error_rate": 0.4})
    return TriageSignals(model="churn", window_since=T0, window_until=T0 + 600, n_predictions=150, n_labelled=150,
                         deploy=DeploySnapshot(champion="1", running=False, ready=False), findings=[errors],
                         realised={"f1": 0.821}, reference={"f1": 0.846}, workload=health)


def _page(signals: TriageSignals) -> InfrastructureProposal:
    return InfrastructureProposal(model="churn", title="Page the platform owner: churn's serving replicas on local",
                                  rationale="churn: infrastructure", champion_version="1", expires_at=T0 + 86400,
                                  brain="offline policy", backend="local", replicas=COUNT,
                                  problems=[f"{POD}: exited ({DETAIL})"], incident_id="inc-i1")


def test_the_replica_state_is_said_once_and_referred_to_elsewhere():
    signals = _signals()
    diagnosis = diagnose(signals)
    assert (diagnosis.category, diagnosis.action) == ("infrastructure", "investigate_infrastructure")
    assert "killed by SIGKILL" in diagnosis.summary and DETAIL not in diagnosis.summary  # the gist, not the text
    tick = judge(None, diagnosis, signals, persist_ticks=2)
    assert COUNT in tick.figures  # the incident record's headline figures keep the count
    assert tick.note.endswith("serving replicas down (states in the post-mortem)") and COUNT not in tick.note
    page = _page(signals)
    pm = build_postmortem(signals, diagnosis, page, incident_id="inc-i1",
                          timeline=[TimelineEvent(at=T0 + 601, event=tick.note)], usage="no LLM calls", now=T0 + 602)
    md = render_postmortem(pm)
    by_section = {heading: "\n".join(lines) for heading, lines in sections(md)}

    assert md.count(COUNT) == 1 and f"Serving workload: {COUNT}. {POD}: exited" in by_section["Impact"]
    assert md.count(DETAIL) == 1 and DETAIL in by_section["Trigger and root cause"]  # under ### Evidence
    assert "replica states under Evidence" in by_section["Resolution"]
    assert "their states and events are under Evidence" in by_section["Action items"]
    assert "only 0% of the model's importance" not in md  # a replica is no feature
    assert COUNT in proposal_summary(page)  # tables and Slack still show the figures
    check = check_duplicates(md, [FindingFact(kind=f.kind, subject=f.subject, message=f.message)
                                  for f in signals.findings],
                             [EvidenceFact(source=e.source, detail=e.detail, fact=e.fact) for e in pm.evidence])
    assert check.ok is True, check.reason
