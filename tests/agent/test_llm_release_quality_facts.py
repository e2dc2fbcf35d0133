"""With an LLM, a release's and a data-quality incident's post-mortem prose may cite what the template says: the
version diff, the shadow comparison, the null fields with counts and first bad times. The facts carry them, so
prose quoting them is accepted; prose inventing a figure is sent back and, still invented, the template stands.

Only pydantic-ai's FunctionModel answers here; real model requests are switched off.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_ai.models
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agent.diagnosis import DeploySnapshot, Diagnosis, TriageSignals
from agent.grounding import ungrounded
from agent.guard import signals_for_llm, signals_payload
from agent.reports import build_postmortem
from agent.reports.llm_writer import write_postmortem_with_llm
from agent.reports.postmortem_facts import shadow_line
from ml_core.monitoring.releases import Release
from ml_core.monitoring.shadow import ShadowComparison
from ml_core.monitoring.slo import NullField, RejectedField
from ml_core.version_diff import ParamChange, ReleaseDiff, VersionSide

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False

T0 = 1_736_000_000.0  # 2025-01-04T14:13:20Z
DIFF = ReleaseDiff(old=VersionSide(version="1", training_run_id="run-a1", data_fingerprint="fp-aaaa"),
                   new=VersionSide(version="2", training_run_id="run-b2", data_fingerprint="fp-bbbb"),
                   params=[ParamChange(name="epochs", old="30", new="3")], params_known=True, gate=None)
SHADOW = ShadowComparison(release="2", baseline="1", how="promoted", n=800, disagreement=0.125, n_labelled=600,
                          release_only_wrong=40, baseline_only_wrong=10, p_value=1.2e-6, release_f1=0.612,
                          baseline_f1=0.801, worse=True)


def _release_signals() -> TriageSignals:
    return TriageSignals(model="churn", window_since=T0 - 600, window_until=T0, n_predictions=800, n_labelled=600,
                         deploy=DeploySnapshot(champion="2", previous_champion="1", running=True, ready=True),
                         release=Release(version="2", how="promoted", at=T0 - 300), release_diff=DIFF, shadow=SHADOW)


def _quality_signals() -> TriageSignals:
    return TriageSignals(model="churn", window_since=T0 - 600, window_until=T0, n_predictions=500,
                         rejected_fields=[RejectedField(field="total_eve_charge", problem="null", count=31,
                                                        first_at=T0 - 420)],
                         null_share={"state": 0.061},
                         null_fields=[NullField(field="state", count=29, first_at=T0 - 360)])


def _postmortem(signals: TriageSignals, category: str, action: str, culprit: list[str]) -> Any:
    diagnosis = Diagnosis(detected=True, category=category, culprit=culprit, action=action,  # type: ignore[arg-type]
                          summary="templated summary")
    return build_postmortem(signals, diagnosis, None, incident_id="inc-q1", timeline=[], usage="no LLM calls",
                            now=T0 + 10)


def _answering(*narratives: dict[str, Any]) -> tuple[FunctionModel, list[list[ModelMessage]]]:
    """A scripted model answering each request with the next narrative (the last one repeats)."""
    calls: list[list[ModelMessage]] = []

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(messages)
        args = narratives[min(len(calls), len(narratives)) - 1]
        if info.output_tools:
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])
        return ModelResponse(parts=[TextPart(json.dumps(args))])

    return FunctionModel(reply, model_name="scripted"), calls


def _narrative(root_cause: str, impact: str = "Decisions went wrong for the window.") -> dict[str, Any]:
    return {"summary": "A release decided worse than the version it replaced.", "impact": impact,
            "root_cause": root_cause, "action_items": ["Require a shadow comparison before promoting"]}


RELEASE_PROSE = _narrative(
    "v2 (training run `run-b2`, data fingerprint `fp-bbbb`, epochs 30 -> 3) replaced v1 (`run-a1`, `fp-aaaa`) "
    "without a gate at 14:08 UTC. On the same 800 records the two disagreed on 12.5%; of 600 labelled, 40 were "
    "wrong only for v2 and 10 only for v1 (McNemar p=1.2e-06), F1 0.612 against 0.801.")


def test_the_release_facts_reach_the_llm():
    body = signals_payload(_release_signals())
    assert body["release_diff"] == {
        "old": {"version": "1", "training_run": "run-a1", "data_fingerprint": "fp-aaaa"},
        "new": {"version": "2", "training_run": "run-b2", "data_fingerprint": "fp-bbbb"},
        "gate": "none (deployed without a gate)", "params_known": True,
        "params_changed": [{"name": "epochs", "old": "30", "new": "3"}]}
    shadow = body["shadow"]
    assert (shadow["n"], shadow["disagreement"], shadow["release_only_wrong"], shadow["baseline_only_wrong"],
            shadow["p_value"], shadow["release_f1"], shadow["baseline_f1"], shadow["worse"]) == (
        800, 0.125, 40, 10, 1.2e-6, 0.612, 0.801, True)
    passed = _release_signals().model_copy(update={"release_diff": DIFF.model_copy(update={"gate": "passed"})})
    assert signals_payload(passed)["release_diff"]["gate"] == "passed"


def test_the_data_quality_facts_reach_the_llm_with_counts_and_first_times():
    body = signals_payload(_quality_signals())
    assert body["rejected_fields"] == [{"field": "total_eve_charge", "problem": "null", "count": 31,
                                        "first_at": "2025-01-04 14:06:20 UTC"}]
    assert body["null_fields"] == [{"field": "state", "count": 29, "first_at": "2025-01-04 14:07:20 UTC"}]


def test_the_shadow_comparison_is_a_sentence_in_what_changed():
    line = shadow_line(SHADOW)
    assert line == ("Against its baseline v1 on the same 800 records, v2 (promoted) decided 12.5% of them differently; "
                    "of 600 labelled, 40 were wrong only for v2 and 10 only for v1 (McNemar p=1.2e-06), F1 0.612 vs "
                    "0.801: v2 is significantly worse than its baseline.")
    unlabelled = SHADOW.model_copy(update={"n_labelled": 0, "estimated_release_f1": 0.7, "estimated_baseline_f1": 0.8,
                                           "worse": False, "estimated_worse": True})
    assert shadow_line(unlabelled).endswith("put F1 at 0.700 for v2 vs 0.800 for v1: v2 is estimated worse by the "
                                            "drop limit or more.")
    # a slow release's post-mortem says it under "what changed"; a bad release's evidence already does
    assert line in _postmortem(_release_signals(), "latency", "rollback", ["2"]).what_changed
    assert line not in _postmortem(_release_signals(), "bad_release", "rollback", ["2"]).what_changed


def test_release_prose_citing_the_diff_and_the_shadow_is_accepted():
    signals = _release_signals()
    base = _postmortem(signals, "bad_release", "rollback", ["2"])
    model, calls = _answering(RELEASE_PROSE)
    pm, usage = write_postmortem_with_llm(model, base, facts=signals_for_llm(signals))
    assert pm.brain == "llm scripted" and pm.root_cause == RELEASE_PROSE["root_cause"]
    assert len(calls) == 1 and usage["requests"] == 1


def test_release_prose_inventing_a_figure_is_sent_back_then_corrected():
    signals = _release_signals()
    invented = _narrative(RELEASE_PROSE["root_cause"].replace("0.612", "0.512"))
    model, calls = _answering(invented, RELEASE_PROSE)
    pm, usage = write_postmortem_with_llm(model, _postmortem(signals, "bad_release", "rollback", ["2"]),
                                          facts=signals_for_llm(signals))
    assert len(calls) == 2 and usage["requests"] == 2 and pm.root_cause == RELEASE_PROSE["root_cause"]
    retry = str(calls[1][-1])
    assert "not in the facts: 0.512" in retry and "0.612" not in retry.split("not in the facts")[1][:40]


def test_prose_still_inventing_after_the_retries_leaves_the_template():
    signals = _release_signals()
    base = _postmortem(signals, "bad_release", "rollback", ["2"])
    model, calls = _answering(_narrative(RELEASE_PROSE["root_cause"] + " It was trained on `fp-cccc` by v3."))
    pm, usage = write_postmortem_with_llm(model, base, facts=signals_for_llm(signals))
    assert len(calls) == 3  # the answer and two retries
    assert pm.brain.startswith("offline policy (LLM failed: ") and pm.root_cause == base.root_cause
    assert "error" in usage


def test_data_quality_prose_with_the_counts_and_first_bad_times_is_accepted_and_an_invented_count_is_not():
    signals = _quality_signals()
    base = _postmortem(signals, "data_quality", "fix_data", ["total_eve_charge"])
    cited = _narrative("The feed broke: `total_eve_charge` arrived null in 31 requests from 14:06 UTC, and "
                       "`state` was null in 29 answered rows (6.1%) from 2025-01-04 14:07 UTC.")
    model, calls = _answering(cited)
    pm, _ = write_postmortem_with_llm(model, base, facts=signals_for_llm(signals))
    assert pm.brain == "llm scripted" and pm.root_cause == cited["root_cause"] and len(calls) == 1
    facts = signals_for_llm(signals)
    assert ungrounded(cited["root_cause"].replace("31 requests", "45 requests"), facts) == ["45"]
    assert ungrounded(cited["root_cause"].replace("14:06", "13:50"), facts) == ["13:50"]
    assert ungrounded("`zip_code` was null", facts) == ["`zip_code`"]


def test_prose_copying_the_templated_draft_is_always_grounded():
    """The draft's own sentences (times in ISO, percentages, signed differences) pass the check unchanged."""
    for signals, args in ((_release_signals(), ("latency", "rollback", ["2"])),
                          (_quality_signals(), ("data_quality", "fix_data", ["total_eve_charge"]))):
        base = _postmortem(signals, *args)
        copied = _narrative(base.root_cause + " " + " ".join(base.what_changed), impact=base.impact)
        copied["summary"], copied["detection"] = base.summary, base.detection
        pm, _ = write_postmortem_with_llm(_answering(copied)[0], base, facts=signals_for_llm(signals))
        assert pm.brain == "llm scripted", pm.brain
