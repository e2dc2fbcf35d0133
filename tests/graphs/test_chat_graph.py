"""The chat graph: a scripted LLM calls real read-only tools; without an LLM the offline router answers;
history is kept per thread across runner restarts; a proposal filed from chat waits for approval."""

from __future__ import annotations

import pytest
from fakes import ScriptedChatModel, answer, tool_call
from world import make_ctx

from graphs.runner import GraphRunner


@pytest.fixture(scope="module")
def home(tmp_path_factory, churn_df):
    from tests.conftest import make_champion_home

    layout, registry, job = make_champion_home(tmp_path_factory.mktemp("chat"), churn_df, epochs=2)
    return layout, job.version


def test_scripted_llm_answers_with_a_real_tool_call_and_streams_the_trace(home):
    layout, version = home
    llm = ScriptedChatModel(script=[tool_call("list_models"), answer(f"churn has one version, v{version}.")])
    ctx = make_ctx(layout, chat_model=llm)
    with GraphRunner(ctx) as runner:
        events = list(runner.stream_chat("which models are registered?", thread_id="t1"))
    kinds = [k for k, _ in events]
    assert ("call", "list_models()") in events
    result = next(v for k, v in events if k == "result")
    assert result.startswith("list_models:") and "churn" in result  # the real registry answered
    assert events[-2] == ("answer", f"churn has one version, v{version}.")
    assert events[-1] == ("brain", "llm scripted") and kinds.index("call") < kinds.index("answer")


def test_history_is_kept_per_thread_across_restarts(home):
    layout, _ = home
    with GraphRunner(make_ctx(layout, chat_model=ScriptedChatModel(script=[answer("first")]))) as runner:
        runner.chat("remember the word pineapple", thread_id="t-history")
    second = ScriptedChatModel(script=[answer("second")])
    with GraphRunner(make_ctx(layout, chat_model=second)) as runner:  # a new runner: only checkpoints remain
        runner.chat("what word?", thread_id="t-history")
        third = ScriptedChatModel(script=[answer("other")])
        runner.ctx.chat_model = third
        runner.chat("hello", thread_id="t-other")
    seen = " ".join(str(m.content) for m in second.seen[0])
    assert "pineapple" in seen and "first" in seen
    assert "pineapple" not in " ".join(str(m.content) for m in third.seen[0])


def test_offline_chat_routes_common_questions_to_tools(home):
    layout, version = home
    ctx = make_ctx(layout)
    with GraphRunner(ctx) as runner:
        status, brain = runner.chat("what is the status of churn?", thread_id="t-off")
        models, _ = runner.chat("which models and versions exist?", thread_id="t-off")
        approvals, _ = runner.chat("anything pending approval?", thread_id="t-off")
        unknown, _ = runner.chat("write me a poem about churn", thread_id="t-off")
    assert brain == "offline policy"
    assert f"churn: nothing is deployed; v{version} is the registry's champion" in status
    assert f"churn has 1 version (champion v{version})" in models
    assert "nothing is waiting for approval" in approvals
    assert "can't answer that without an LLM" in unknown and "OPSAGENT_LLM_BASE_URL" in unknown


def test_llm_failure_in_chat_falls_back_to_the_offline_router(home):
    layout, _ = home
    ctx = make_ctx(layout, chat_model=ScriptedChatModel(script=[ConnectionError("endpoint down")]))
    with GraphRunner(ctx) as runner:
        text, brain = runner.chat("status churn", thread_id="t-down")
    assert brain.startswith("offline policy (LLM failed") and "churn: nothing is deployed" in text


def test_a_proposal_filed_from_chat_waits_in_the_inbox(home):
    layout, version = home
    llm = ScriptedChatModel(script=[tool_call("propose_retrain", model="churn", reason="F1 dropped", window_minutes=60),
                                    answer("Filed; it needs your approval.")])
    ctx = make_ctx(layout, chat_model=llm)
    with GraphRunner(ctx) as runner:
        text, _ = runner.chat("retrain churn on the last hour", thread_id="t-prop")
        pending = ctx.approvals.pending()
        assert len(pending) == 1 and pending[0].proposal.kind == "retrain"
        assert runner.pending_request(pending[0].id) is not None  # paused on interrupt(), nothing ran
    assert text == "Filed; it needs your approval."
    from ml_core.registry import Registry

    registry = Registry(layout)
    assert registry.alias("churn", "champion").version == version
    assert [v.version for v in registry.versions("churn")] == [version]
