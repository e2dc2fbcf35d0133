"""A release post-mortem's "Trigger and root cause" gives the version diff from the typed facts in its JSON: the two
versions, training runs, data fingerprints, params that differ, and the gate's verdict or its absence; the rubric
checks the versions and the gate against what the triage saw."""

from __future__ import annotations

from agent.diagnosis import DeploySnapshot, Diagnosis, TriageSignals
from agent.reports import build_postmortem
from agent.reports.render import render_postmortem
from evals.postmortem_checks import check_release_diff
from evals.postmortem_expectations import PostmortemExpectation, ReleaseFact
from ml_core.monitoring.releases import Release
from ml_core.version_diff import ParamChange, ReleaseDiff, VersionSide

T0 = 1_736_000_000.0
DIFF = ReleaseDiff(old=VersionSide(version="1", training_run_id="run-a1", data_fingerprint="fp-aaaa"),
                   new=VersionSide(version="2", training_run_id="run-b2", data_fingerprint="fp-bbbb"),
                   params=[ParamChange(name="epochs", old="30", new="3"), ParamChange(name="patience", old="15",
                                                                                      new="3")],
                   params_known=True, gate=None)


def _markdown(diff: ReleaseDiff | None, category: str = "bad_release") -> str:
    signals = TriageSignals(model="churn", window_since=T0 - 600, window_until=T0, n_predictions=500,
                            deploy=DeploySnapshot(champion="2", previous_champion="1"),
                            release=Release(version="2", how="promoted", at=T0 - 300), release_diff=diff)
    diagnosis = Diagnosis(detected=True, category=category, culprit=["2"], action="rollback",  # type: ignore[arg-type]
                          summary="v2 decides worse than v1")
    pm = build_postmortem(signals, diagnosis, None, incident_id="inc-r", timeline=[], usage="no LLM calls",
                          now=T0 + 10)
    assert (pm.release_diff == diff) if category == "bad_release" else pm.release_diff is None  # typed, in the JSON
    return render_postmortem(pm)


def _cause(md: str) -> str:
    return md.split("## Trigger and root cause")[1].split("## Resolution")[0]


def test_the_version_diff_is_rendered_from_the_typed_facts():
    cause = _cause(_markdown(DIFF))
    assert "**Release:** v1 -> v2" in cause
    assert "- training run (MLflow): `run-a1` -> `run-b2`" in cause
    assert "- data fingerprint: `fp-aaaa` -> `fp-bbbb`" in cause
    assert "- params that differ: `epochs` 30 -> 3; `patience` 15 -> 3" in cause
    assert "**Gate:** none — v2 was deployed without a gate" in cause
    passed = DIFF.model_copy(update={"gate": "passed", "params": [],
                                     "new": DIFF.new.model_copy(update={"data_fingerprint": "fp-aaaa"})})
    cause = _cause(_markdown(passed))
    assert "**Gate:** passed — v2 passed the champion-vs-challenger gate" in cause
    assert "- params that differ: none" in cause and "`fp-aaaa` for both (the same training data)" in cause


def test_the_rubric_checks_the_two_versions_and_the_gate():
    def check(md: str, release: ReleaseFact | None, category: str = "bad_release"):
        return check_release_diff(md, PostmortemExpectation(category=category, action="rollback", release=release))

    md = _markdown(DIFF)
    assert check(md, ReleaseFact(old="1", new="2", gate=None)).ok is True
    wrong_gate = check(md, ReleaseFact(old="1", new="2", gate="passed"))
    assert wrong_gate.ok is False and "says gate none; the registry says passed" in wrong_gate.reason
    other = check(md, ReleaseFact(old="3", new="2"))
    assert other.ok is False and "does not name v3" in other.reason
    without = check(_markdown(None), ReleaseFact(old="1", new="2"))
    assert without.ok is False and "no '**Release:** ...' line" in without.reason
    assert check(md, None).ok is None and check(md, ReleaseFact(new="2"), category="data_drift").ok is None
    # a data-drift post-mortem carries no release diff even when a release was in the window
    assert "**Release:**" not in _markdown(DIFF, category="data_drift")
