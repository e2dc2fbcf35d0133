"""A chat thread's prompt fits the model's context: the system prompt and the latest turn always, earlier turns
newest first as room allows, never a tool result without its call; the checkpointed thread keeps everything."""

from __future__ import annotations

from fakes import ScriptedChatModel, answer
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import count_tokens_approximately
from world import make_ctx

from graphs.chat_history import fit_to_context
from graphs.runner import GraphRunner

SYSTEM = SystemMessage("You are opsagent.")


def turn(i: int, words: int = 200) -> list:
    """One earlier turn: a question, a tool call and its result, and the answer (each ~``words`` words)."""
    call = AIMessage("", tool_calls=[{"name": "list_models", "args": {}, "id": f"c{i}", "type": "tool_call"}])
    return [HumanMessage(f"question {i} " + "word " * words), call,
            ToolMessage("result " * words, tool_call_id=f"c{i}"), AIMessage(f"answer {i} " + "word " * words)]


def test_everything_is_sent_when_it_fits():
    history = [*turn(1), *turn(2), HumanMessage("and now?")]
    assert fit_to_context(SYSTEM, history, 100_000) == [SYSTEM, *history]


def test_old_turns_go_first_and_whole_turns_stay():
    history = [*turn(1), *turn(2), *turn(3), HumanMessage("latest question")]
    one_turn = count_tokens_approximately(turn(3))
    budget = count_tokens_approximately([SYSTEM, history[-1]]) + int(one_turn * 1.5)  # room for one turn, not two
    sent = fit_to_context(SYSTEM, history, budget)
    assert sent == [SYSTEM, *turn(3), history[-1]]
    assert count_tokens_approximately(sent) <= budget


def test_the_latest_turn_is_sent_whole_even_over_budget():
    latest = [HumanMessage("check churn " + "word " * 500), *turn(9)[1:3]]  # question, tool call, its result
    sent = fit_to_context(SYSTEM, [*turn(1), *latest], budget=50)
    assert sent == [SYSTEM, *latest]


def test_a_long_thread_reaches_the_model_trimmed_and_stays_whole_in_the_checkpoint(layout):
    llm = ScriptedChatModel(script=[answer("a " * 400) for _ in range(5)])
    progress: list[str] = []
    # 6,000 tokens of context, less 200 for the answer and ~2,450 for the 15 tools' schemas, less the system
    # prompt and the latest question (~500): room for three earlier turns of ~710 tokens, not four
    ctx = make_ctx(layout, chat_model=llm, llm_context_tokens=6000, llm_max_tokens=200, progress=progress.append)
    with GraphRunner(ctx) as runner:
        for i in range(5):
            runner.chat(f"question {i} " + "word " * 400, thread_id="long")
        kept = runner.chat_graph.get_state({"configurable": {"thread_id": "chat-long"}}).values["messages"]
    last_prompt = llm.seen[-1]
    assert isinstance(last_prompt[0], SystemMessage)
    assert str(last_prompt[-1].content).startswith("question 4 ")  # the latest turn
    questions = [str(m.content).split(" ")[1] for m in last_prompt if isinstance(m, HumanMessage)]
    assert questions == ["1", "2", "3", "4"]  # the oldest turn went first
    assert len(last_prompt) < len(kept) + 1 and len(kept) == 10  # the thread itself keeps all five turns
    assert any(p.startswith("chat history trimmed to the context:") for p in progress)
    assert isinstance(last_prompt[1], HumanMessage)  # what is kept starts at a question
