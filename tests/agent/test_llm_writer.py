"""The pydantic-ai report writer: typed narrative, retries on invalid output, and the templated fallback.

Only pydantic-ai's TestModel and FunctionModel answer here; real model requests are switched off.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pydantic_ai.models
import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.models.test import TestModel

from agent.proposals import Evidence, RetrainProposal, ThresholdProposal
from agent.reports import ActionItem, PostMortem, TimelineEvent
from agent.reports.llm_writer import (
    PostMortemNarrative,
    pydantic_ai_model,
    rewrite_proposal_with_llm,
    usage_line,
    write_postmortem_with_llm,
)
from agent.settings import Settings

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False

T0 = 1_736_000_000.0
NARRATIVE = {"summary": "Evening usage moved; F1 fell.", "impact": "1,200 predictions scored worse.",
             "root_cause": "total_day_minutes drifted upward.", "action_items": ["Approve prop-1", "Watch canary"]}
# Every figure the scripted prose quotes is here: the writer rejects prose citing one that is not.
FACTS = ("model: churn; predictions: 1200; labelled: 300; "
         "finding [warning] feature_drift total_day_minutes: wasserstein 0.412 (threshold 0.1); "
         "finding [critical] performance_drop f1: realised f1 0.58 vs 0.85 (-0.27); "
         "detection: at most 12 min from onset to detection")


def _base() -> PostMortem:
    return PostMortem(incident_id="inc-1", model="churn", title="churn: data drift", created_at=T0,
                      brain="offline policy", summary="template summary", impact="template impact",
                      root_cause="template root cause", evidence=[Evidence(source="drift screen", detail="x")],
                      timeline=[TimelineEvent(at=T0, event="drift detected")], links={"champion v1": "models:/churn/1"},
                      decisions=["proposal prop-1 filed, awaiting approval"], action_items=["template action"],
                      usage="no LLM calls (offline policy)")


def _reply(info: AgentInfo, args: dict) -> ModelResponse:
    if info.output_tools:  # structured output arrives as a call of the output tool
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])
    return ModelResponse(parts=[TextPart(json.dumps(args))])


def test_typed_narrative_replaces_the_template_prose():
    pm, usage = write_postmortem_with_llm(TestModel(custom_output_args=NARRATIVE), _base(), facts=FACTS)
    assert (pm.summary, pm.impact, pm.root_cause, [a.text for a in pm.action_items]) == tuple(NARRATIVE.values())
    assert pm.brain == "llm test" and usage["requests"] == 1 and usage["input_tokens"] > 0
    assert pm.usage.startswith("1 LLM request, ")
    earlier = _base().model_copy(update={"usage": "2 LLM requests, 900 input + 80 output tokens"})
    assert write_postmortem_with_llm(TestModel(custom_output_args=NARRATIVE), earlier, facts=FACTS)[0].usage \
        .startswith("2 LLM requests, 900 input + 80 output tokens; writer: 1 LLM request, ")
    # everything the template owns is untouched
    prose = {"summary", "impact", "root_cause", "action_items", "brain", "usage"}  # the narrative left the rest
    assert pm.model_dump(exclude=prose) == _base().model_dump(exclude=prose)


def test_the_llm_fills_the_typed_sections_and_keeps_the_proposals_steps():
    """Detection, unknowns and lessons are the LLM's when it writes them; the items that close on a milestone (the
    proposal's, with its id and done state) stay the template's, and its follow-ups replace the draft's."""
    base = _base().model_copy(update={"action_items": [
        ActionItem(text="Review retrain proposal prop-1 and approve or reject it", done=True, closes_on="decided"),
        ActionItem(text="template follow-up")]})
    narrative = {**NARRATIVE, "detection": "Found by the scheduled triage 12 min after onset.",
                 "unknowns": ["Why evening usage moved."],
                 "lessons": {"went_well": ["The canary caught nothing bad."], "went_wrong": [], "got_lucky": []},
                 "action_items": ["Add an alert on evening minutes"]}
    pm, _ = write_postmortem_with_llm(TestModel(custom_output_args=narrative), base, facts=FACTS)
    assert pm.detection == "Found by the scheduled triage 12 min after onset."
    assert pm.unknowns == ["Why evening usage moved."] and pm.lessons.went_well == ["The canary caught nothing bad."]
    assert [(a.text, a.done, a.closes_on) for a in pm.action_items] == [
        ("Review retrain proposal prop-1 and approve or reject it", True, "decided"),
        ("Add an alert on evening minutes", False, None)]


def test_invalid_output_is_retried_and_then_accepted() -> None:
    calls: list[list[ModelMessage]] = []

    def flaky(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(messages)
        bad = {**NARRATIVE, "action_items": []}  # violates min_length=1
        return _reply(info, bad if len(calls) == 1 else NARRATIVE)

    pm, usage = write_postmortem_with_llm(FunctionModel(flaky, model_name="flaky"), _base(), facts=FACTS)
    assert len(calls) == 2 and usage["requests"] == 2
    assert pm.brain == "llm flaky" and [a.text for a in pm.action_items] == NARRATIVE["action_items"]
    # the retry told the model what was wrong, and it saw the facts in the first request
    assert "action_items" in str(calls[1][-1]) and FACTS in str(calls[0][0])


def test_output_still_invalid_after_retries_falls_back_to_the_template():
    def always_bad(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return _reply(info, {"summary": "only a summary"})

    pm, usage = write_postmortem_with_llm(FunctionModel(always_bad), _base(), facts=FACTS)
    assert pm.brain.startswith("offline policy (LLM failed: ") and pm.summary == "template summary"
    assert usage["requests"] == 0 and "error" in usage


def test_a_failing_llm_falls_back_to_the_template():
    def down(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise ConnectionError("endpoint unreachable")

    pm, usage = write_postmortem_with_llm(FunctionModel(down), _base(), facts=FACTS)
    assert pm.brain == "offline policy (LLM failed: ConnectionError: endpoint unreachable)"
    assert pm.model_dump(exclude={"brain"}) == _base().model_dump(exclude={"brain"})
    assert usage["error"].startswith("ConnectionError")


def test_runs_from_a_thread_and_from_inside_an_event_loop() -> None:
    results: list[PostMortem] = []
    model = TestModel(custom_output_args=NARRATIVE)
    worker = threading.Thread(target=lambda: results.append(write_postmortem_with_llm(model, _base(), facts=FACTS)[0]))
    worker.start()
    worker.join(timeout=30)

    async def in_a_graph_node() -> PostMortem:
        return write_postmortem_with_llm(model, _base(), facts=FACTS)[0]

    results.append(asyncio.run(in_a_graph_node()))
    assert [r.brain for r in results] == ["llm test", "llm test"]


def _retrain() -> RetrainProposal:
    return RetrainProposal(model="churn", title="Retrain churn", rationale="drift", champion_version="1",
                           expires_at=T0 + 86400, brain="offline policy", incident_id="inc-1", window_since=T0 - 3600,
                           window_until=T0, epochs=30, expected_gain="some", estimated_train_seconds=90,
                           estimated_cost_usd=0.08, evidence=[Evidence(source="drift screen", detail="x")],
                           rollback_plan="keep v1")


@pytest.mark.parametrize("proposal", [
    _retrain(),
    ThresholdProposal(model="churn", title="Lower threshold", rationale="recall fell", champion_version="1",
                      expires_at=T0 + 60, brain="offline policy", version="1", current_threshold=0.5,
                      proposed_threshold=0.4),
])
def test_proposal_rewrite_changes_only_the_prose(proposal):
    prose = {"title": "Retrain churn on the drifted hour", "rationale": "total_day_minutes moved; F1 fell 0.27.",
             "expected_gain": "recover most of the 0.27 F1 drop"}
    new, usage = rewrite_proposal_with_llm(TestModel(custom_output_args=prose), proposal, facts=FACTS)
    assert (new.title, new.rationale, new.brain) == (prose["title"], prose["rationale"], "llm test")
    assert getattr(new, "expected_gain", prose["expected_gain"]) == prose["expected_gain"]
    fixed = {"title", "rationale", "expected_gain", "brain"}
    assert new.model_dump(exclude=fixed) == proposal.model_dump(exclude=fixed) and usage["requests"] == 1


def test_proposal_rewrite_falls_back_when_the_llm_fails():
    def down(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        raise TimeoutError("timed out after 30 s")

    prop = _retrain()
    new, usage = rewrite_proposal_with_llm(FunctionModel(down), prop, facts=FACTS)
    assert new.brain == "offline policy (LLM failed: TimeoutError: timed out after 30 s)"
    assert new.model_dump(exclude={"brain"}) == prop.model_dump(exclude={"brain"}) and usage["requests"] == 0


def test_model_comes_from_settings_only_when_configured(tmp_path):
    assert pydantic_ai_model(Settings(home=tmp_path)) is None
    settings = Settings(home=tmp_path, llm_base_url="http://127.0.0.1:9/v1", llm_model="qwen2.5-7b",
                        llm_timeout_s=7, llm_max_tokens=512)
    model = pydantic_ai_model(settings)
    assert isinstance(model, OpenAIChatModel) and model.model_name == "qwen2.5-7b"
    assert model.base_url.startswith("http://127.0.0.1:9/v1")
    assert model.settings is not None and model.settings.get("timeout") == 7
    assert model.settings.get("max_tokens") == 512
    # a real model with requests switched off fails, and the template stands
    pm, _ = write_postmortem_with_llm(model, _base(), facts=FACTS, settings=settings)
    assert pm.brain.startswith("offline policy (LLM failed: RuntimeError: Model requests are not allowed")


def test_usage_line_estimates_cost(tmp_path):
    settings = Settings(home=tmp_path, llm_input_usd_per_mtok=1.0, llm_output_usd_per_mtok=2.0)
    usage = {"requests": 2, "input_tokens": 1000, "output_tokens": 500}
    assert usage_line(usage, settings) == "2 LLM requests, 1000 input + 500 output tokens, ~$0.0020"
    assert usage_line({"requests": 0}) == "no LLM calls (offline policy)"
    assert PostMortemNarrative.model_json_schema()["properties"]["action_items"]["maxItems"] == 8
