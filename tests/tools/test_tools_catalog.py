"""The catalog: names, read-only mode, the LLM-visible schema (no ctx), calling by name, errors as data."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from agent.context import OpsContext
from agent.settings import Settings
from tools.catalog import args_model, call_tool, langchain_tools, to_json, tool_specs
from tools.results import DriftedFeature, DriftReport

READ = {"list_models", "model_status", "drift_report", "performance", "slo_status", "compare_versions",
        "training_run", "recent_deploys", "feature_importance", "recall_incidents"}
PROPOSE = {"propose_retrain", "propose_rollback", "propose_promote", "propose_threshold"}


@pytest.fixture
def ctx(layout) -> OpsContext:
    """An empty home: no registered model yet."""
    return OpsContext(Settings(home=layout.home, tavily_api_key=None))


def test_catalog_names_kinds_and_read_only_mode(ctx):
    specs = tool_specs(ctx.settings)
    assert {s.name for s in specs} == READ | PROPOSE
    assert {s.name for s in specs if s.kind == "propose"} == PROPOSE
    read_only = tool_specs(ctx.settings, proposals=False)
    assert {s.name for s in read_only} == READ and {t.name for t in langchain_tools(ctx, proposals=False)} == READ
    assert call_tool(ctx, "propose_retrain", {"model": "churn", "reason": "x"}, proposals=False).startswith(
        "error: unknown tool")


def test_descriptions_are_the_first_docstring_paragraph(ctx):
    for spec in tool_specs(ctx.settings):
        assert spec.description and "Args:" not in spec.description and "\n" not in spec.description
        assert spec.description.split()[0] in spec.func.__doc__  # taken from the tool's own docstring
    drift = next(s for s in tool_specs(ctx.settings) if s.name == "drift_report")
    assert "Evidently" in drift.description


def test_the_llm_visible_schema_has_no_ctx(ctx):
    for tool in langchain_tools(ctx):
        schema = convert_to_openai_tool(tool)["function"]["parameters"]
        assert "ctx" not in schema.get("properties", {}) and "ctx" not in schema.get("required", [])
        assert "ctx" not in json.dumps(tool.tool_call_schema.model_json_schema())
    drift = args_model(next(s.func for s in tool_specs(ctx.settings) if s.name == "drift_report"))
    props = drift.model_json_schema()["properties"]
    assert set(props) == {"model", "window_minutes"} and props["window_minutes"]["default"] == 60
    assert "minutes" in props["window_minutes"]["description"] and "churn" in props["model"]["description"]


def test_unknown_tool_and_bad_arguments_are_clear_errors(ctx):
    unknown = call_tool(ctx, "drift", {"model": "churn"})
    assert unknown.startswith("error: unknown tool 'drift'") and "drift_report" in unknown
    bad = call_tool(ctx, "drift_report", {"model": "churn", "window_minutes": "an hour"})
    assert bad.startswith("error: invalid arguments for drift_report: window_minutes")
    assert "expected: model (str, required), window_minutes (float, default 60)" in bad
    extra = call_tool(ctx, "model_status", {"model": "churn", "ctx": "x"})
    assert extra.startswith("error: invalid arguments") and "ctx: Extra inputs are not permitted" in extra
    assert "model: Field required" in call_tool(ctx, "training_run", {"version": "1"})


def test_fixable_errors_come_back_as_data(ctx):
    assert json.loads(call_tool(ctx, "list_models", {})) == {"models": [], "more_models": 0}
    for name, args in {"model_status": {"model": "fraud"}, "drift_report": {"model": "fraud"},
                       "slo_status": {"model": "fraud"}, "compare_versions": {"model": "fraud", "version_a": "1",
                                                                              "version_b": "2"},
                       "propose_rollback": {"model": "fraud", "reason": "slow"}}.items():
        out = json.loads(call_tool(ctx, name, args))
        assert out["error"].startswith("unknown model 'fraud'"), name
    assert "empty" in json.loads(call_tool(ctx, "recall_incidents", {"query": " "}))["error"]
    assert json.loads(call_tool(ctx, "recall_incidents", {"query": "drift"})) == {"query": "drift", "hits": []}


def test_langchain_tools_run_with_ctx_bound(ctx):
    tools = {t.name: t for t in langchain_tools(ctx)}
    assert json.loads(tools["list_models"].invoke({}))["models"] == []
    assert "unknown model" in tools["performance"].invoke({"model": "fraud"})
    bad = tools["recent_deploys"].invoke({"model": "churn", "limit": "many"})
    assert bad.startswith("error: invalid arguments for recent_deploys: limit")
    msg = tools["model_status"].invoke({"type": "tool_call", "id": "call-1", "name": "model_status",
                                        "args": {"model": "fraud"}})
    assert isinstance(msg, ToolMessage) and msg.tool_call_id == "call-1" and "unknown model" in msg.content


def test_results_are_compact_json_within_the_limit():
    big = DriftReport(model="churn", drifted=[DriftedFeature(feature=f"feature_{i}" * 4, test="ks", statistic=0.5)
                                              for i in range(400)], plots=[f"/tmp/p{i}.png" for i in range(300)])
    text = to_json(big)
    data = json.loads(text)
    assert len(text) <= 4000 and data["model"] == "churn" and 0 < len(data["drifted"]) < 400
    assert ": " not in text  # compact separators
    assert json.loads(to_json(DriftReport(error="no champion"))) == {"error": "no champion"}
