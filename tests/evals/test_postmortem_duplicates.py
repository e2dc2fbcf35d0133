"""Duplicated evidence, decided exactly: by the identity of the fact each evidence item states (carried in the
post-mortem's JSON) and by normalised text — a near-duplicate about another fact is not a duplicate, the same fact
in two wordings and the same text twice are."""

from __future__ import annotations

from agent.proposals import Evidence, finding_fact
from agent.reports.postmortem_builder import same_evidence
from evals.postmortem_checks import check_duplicates
from evals.postmortem_expectations import EvidenceFact, FindingFact

DAY = EvidenceFact(source="monitoring feature_drift", fact="feature_drift:total_day_minutes",
                   detail="total_day_minutes drifted: wasserstein 0.312 (threshold 0.1), p=1e-12")
EVE = EvidenceFact(source="monitoring feature_drift", fact="feature_drift:total_eve_minutes",
                   detail="total_eve_minutes drifted: wasserstein 0.312 (threshold 0.1), p=1e-12")
F1 = EvidenceFact(source="prediction log (delayed labels)", fact="realised:f1",
                  detail="realised F1 0.780 on 300 labelled records vs 0.875 on the champion's test set")


def _doc(*evidence: EvidenceFact) -> str:
    lines = "\n".join(f"- **{e.source}**: {e.detail}" for e in evidence)
    return (f"# t\n**Status:** open\n\n## Trigger and root cause\n\n### Evidence\n\n{lines}\n\n## Links\n\n"
            "- drift report: `/home/reports/drift/report.html`\n")


def test_a_near_duplicate_about_another_fact_is_not_a_duplicate():
    # the same words and figures, another feature: two facts
    check = check_duplicates(_doc(DAY, EVE, F1), [], [DAY, EVE, F1])
    assert check.ok is True, check.reason


def test_one_fact_in_two_wordings_is_a_duplicate():
    again = EvidenceFact(source="realised performance", fact="realised:f1", detail="realised f1 0.780 vs 0.875")
    check = check_duplicates(_doc(DAY, F1, again), [], [DAY, F1, again])
    assert check.ok is False and check.reason.startswith("fact realised:f1 stated twice")


def test_an_exact_duplicate_is_one_even_in_other_case_and_spacing():
    copy = EvidenceFact(source="drift screen", detail="Total_day_minutes  drifted: wasserstein 0.312 (threshold 0.1), "
                                                      "p=1e-12")
    check = check_duplicates(_doc(DAY, copy), [], [DAY, copy])
    assert check.ok is False and check.reason.startswith("evidence listed twice: Total_day_minutes")
    # without the JSON, the Markdown still shows the finding's message said twice
    finding = FindingFact(kind="feature_drift", subject="total_day_minutes", message=DAY.detail)
    check = check_duplicates(_doc(DAY, copy), [finding], [])
    assert check.ok is False and check.reason.startswith("said 2 times: total_day_minutes drifted")


def test_a_link_target_that_is_also_evidence_is_said_once():
    report = EvidenceFact(source="drift report", detail="/home/reports/drift/report.html")
    assert check_duplicates(_doc(DAY, report), [], [DAY, report]).ok is True


def test_the_writer_merges_by_identity_not_by_likeness():
    overall = Evidence(source="realised performance", detail="realised auc 0.844 vs 0.919 on reference",
                       fact="realised:auc")
    own = Evidence(source="realised performance", detail="realised auc 0.844 vs 0.919 on v2's own decisions",
                   fact="realised_by_version:2")
    finding = Evidence(source="performance_drop (critical)", detail="realised auc 0.844 vs 0.919 (1000 labels)",
                       fact=finding_fact("performance_drop", "auc"))
    assert not same_evidence(overall, own)  # alike (same opening, figures within), another fact
    assert same_evidence(overall, finding)  # one fact, two wordings
    assert same_evidence(Evidence(source="a", detail="X  y"), Evidence(source="b", detail="x Y"))
