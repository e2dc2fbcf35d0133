"""The checkpointer on a real PostgreSQL: LangGraph's PostgresSaver in the database's ``checkpoints`` schema, with
the project's serializer; a thread paused in one opening is resumed from another (another `opsagent serve`)."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

import sqlalchemy as sa
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from graphs.checkpoint import open_checkpointer
from ml_core.paths import HomeLayout
from ml_core.store_engine import make_engine


class State(TypedDict):
    steps: Annotated[list[str], operator.add]


def ask(state: State) -> dict:
    answer = interrupt({"question": "approve?"})
    return {"steps": [f"answered {answer}"]}


def build():
    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder


def test_a_thread_paused_through_one_checkpointer_resumes_through_another(tmp_path, pg_url):
    layout = HomeLayout(tmp_path, database_url=pg_url)
    config = {"configurable": {"thread_id": "remediation-p1"}}
    with open_checkpointer(layout) as saver:
        graph = build().compile(checkpointer=saver)
        graph.invoke({"steps": ["filed"]}, config)
        assert graph.get_state(config).next == ("ask",)
    with open_checkpointer(layout) as saver:  # a second process's opening: setup is idempotent
        graph = build().compile(checkpointer=saver)
        out = graph.invoke(Command(resume="yes"), config)
    assert out["steps"] == ["filed", "answered yes"]
    assert not (tmp_path / "checkpoints.db").exists()  # nothing went to SQLite
    engine = make_engine(pg_url)
    with engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names(schema="checkpoints"))
    engine.dispose()
    assert {"checkpoints", "checkpoint_writes", "checkpoint_blobs"} <= tables
