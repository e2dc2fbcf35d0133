"""The terminal table reads in an 80-column terminal: no line is wider, each diagnosis wraps by words under its
scenario (not one character per line), and the Markdown report keeps a column per verdict."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from evals.postmortem_rubric import FindingFact
from evals.postmortem_scoring import score_case
from evals.report import VERDICT_KEY, as_json, markdown, print_table
from evals.runner import BenchmarkResult
from evals.scenario_model import load_dir
from evals.scoring import Mitigation, ScenarioRun, TickResult, score_run, totals
from evals.world import Template


def result() -> BenchmarkResult:
    """Every benchmark scenario diagnosed as expected at tick 1, one with the longest culprit list failing."""
    scenarios = load_dir()
    runs = []
    for s in scenarios:
        e = s.expected
        said = TickResult(tick=1, detected=e.detected, category=e.category, action=e.action,
                          culprit=[c.replace("@release", "2") for c in e.culprit], brain="offline policy")
        runs.append(ScenarioRun(scenario=s.name, brain="offline", released="2", seconds=42.0,
                                ticks=[TickResult(tick=0, detected=False), said]))
    runs[0] = runs[0].model_copy(update={"error": "DeploymentError: the service did not become ready in 180 s"})
    scores = [score_run(s, r) for s, r in zip(scenarios, runs, strict=True)]
    return BenchmarkResult(brain="offline", scenarios=scenarios, runs=runs, scores=scores,
                           totals=totals(scores, runs, wall_seconds=600.0),
                           templates={"churn": Template(Path("/nowhere"), "1", {"f1": 0.8}, 10.0),
                                      "credit": Template(Path("/nowhere"), "1", {"f1": 0.6}, 10.0, "credit")},
                           started_at=0.0)


def test_the_table_fits_80_columns_and_diagnoses_wrap_by_words() -> None:
    r = result()
    console = Console(record=True, width=80)
    print_table(r, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    text = "\n".join(lines)
    assert VERDICT_KEY in text and "D detection" in text  # the key and its legend
    assert "data_drift → retrain [total_day_minutes]" in text  # a diagnosis on one line, whole
    several = next(s for s in r.scenarios if s.name == "covariate_drift_several").expected.culprit
    for word in several:  # a long culprit list wraps between words, never inside one
        assert any(word in line for line in lines), word
    assert "error: DeploymentError" in text
    assert not any(line.strip("│ ┃") in {"d", "i", "a"} for line in lines)  # no column one character wide


def test_the_markdown_keeps_a_column_per_verdict() -> None:
    md = markdown(result())
    assert ("| scenario | model | kind | expected | diagnosed | detection | false alarm ok | localization "
            "| root cause | action | executed | post-mortem | TTD (ticks) | seconds |") in md


# A post-mortem that keeps most of the contract but is stale: its proposal was executed and verified, yet it says
# "open" and still asks for the proposal to be reviewed.
STALE = """# churn: data drift in total_day_minutes
**Status:** open

## Summary

F1 fell.

## Impact

F1 0.780 against 0.875.

## Detection

Scheduled triage.

## Trigger and root cause

**Category:** data_drift
**Action:** retrain

The mean of total_day_minutes moved from 180 to 225.

## Resolution

Retrained and promoted.

## Action items

- [ ] Review retrain proposal p-1 and approve or reject it

## Lessons

None.

## Timeline

- 06:40 — triage

## Links

None.
"""


def test_the_post_mortem_score_is_a_column_with_each_failed_check_and_its_reason() -> None:
    r = result()
    i = next(i for i, s in enumerate(r.scenarios) if s.name == "covariate_drift_day_minutes")
    scenario, run = r.scenarios[i], r.runs[i]
    said = run.ticks[1].model_copy(update={"incident_id": "inc-1", "proposal_id": "p-1", "wrote_postmortem": True,
                                           "finding_facts": [FindingFact(kind="performance_drop", subject="f1",
                                                             evidence={"realised": 0.78, "reference": 0.875})]})
    run = run.model_copy(update={"ticks": [run.ticks[0], said], "postmortem_md": STALE, "mitigation": Mitigation(
        proposal_id="p-1", status="executed", verified=True, outcome="promoted v2")})
    r.runs[i], r.scores[i] = run, score_case(scenario, run)
    r.totals = totals(r.scores, r.runs)
    pm = r.scores[i].postmortem
    assert pm is not None and pm.text() == "10/12"  # 12 checks apply; status and stale items fail
    assert all(s.postmortem is None for j, s in enumerate(r.scores) if j != i)  # no incident: not applicable
    md = markdown(r)
    row = next(line for line in md.splitlines() if line.startswith(f"| {scenario.name} |"))
    assert "| ✓ | 10/12 | 1 |" in row  # executed, then the post-mortem column, then TTD
    assert "- **post-mortem miss** — status matches outcome: status 'open' after outcome resolved" in md
    assert "- **post-mortem miss** — action items current: stale after outcome resolved: - [ ] Review" in md
    assert "| post-mortem rubric | 83% (10/12) | >= 100% | ✗ |" in md
    assert "| post-mortems passing every rubric check | 0% (0/1) | - | |" in md
    console = Console(record=True, width=80)
    print_table(r, console)
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(f"{scenario.name}" in line and "✓ ✓ ✓ ✓ ✓ ✓ ✗" in line for line in lines)  # P: the rubric failed
    assert any("post-mortem rubric" in line and "83% (10/12)" in line for line in lines)
    data = as_json(r)
    case = next(c for c in data["cases"] if c["run"]["scenario"] == scenario.name)
    assert case["postmortem"]["failures"][0].startswith("status matches outcome:")
    assert data["rates"]["postmortem_checks"] == 10 / 12 and data["totals"]["postmortems"] == {"hits": 0, "of": 1}


def test_scores_are_reported_per_data_set_with_held_out_scenarios_apart() -> None:
    r = result()
    md = markdown(r)
    assert "## Per data set" in md
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    held_out = [s for s in r.scenarios if s.holdout]
    assert held_out and all(s.batch in ("step6", "step7", "step10") for s in held_out)

    def detected(model: str | None, batch: str, holdout: bool | None = None) -> int:
        return sum(s.expected.detected for s in r.scenarios if model in (None, s.model_name) and s.batch == batch
                   and holdout in (None, s.holdout))

    # Every credit run was diagnosed as expected: root cause right on each one that had something to find.
    for label, model, batch, holdout in (("credit · step6", "credit", "step6", False),
                                         ("credit · step6 · held out", "credit", "step6", True),
                                         ("churn · step7 · held out", "churn", "step7", True),
                                         ("step7", None, "step7", False), ("step7 · held out", None, "step7", True)):
        n = detected(model, batch, holdout)
        assert f"| 100% ({n}/{n}) | 0 |" in rows[label], label
    n = detected("churn", "original")  # the first (churn) run errored: its detection is a miss
    assert f"| {(n - 1) / n:.0%} ({n - 1}/{n}) |" in rows["churn"]
    assert f"/{len(r.scenarios)} |" in rows["all"]
    assert f"### {held_out[0].name} — pass (held out)" in md
    console = Console(record=True, width=80)
    print_table(r, console)
    text = console.export_text()
    assert "per data set" in text and "step7 · held out" in text and "(held out)" in text
