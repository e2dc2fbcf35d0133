"""Chat threads on the web page: a small per-user index (SQLite in the home) and each thread's history,
read back from the chat graph's checkpointed state (the checkpointer is the one source of the messages).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from ml_core.paths import HomeLayout
from ml_core.store import Handle, Store

INDEX_FILE = "web_threads.db"
metadata = sa.MetaData()
threads = sa.Table(
    "threads", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("user", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("threads_user", "user", "updated_at"),
)
_c = threads.c


@dataclass(frozen=True)
class ThreadInfo:
    id: str
    user: str
    title: str
    created_at: float
    updated_at: float

    @property
    def graph_thread(self) -> str:
        """The thread id given to the dispatcher (the chat graph keeps it as ``chat-<this>``)."""
        return f"web-{self.id}"


@dataclass
class Turn:
    """One message of a thread, for the page: the person's question, the agent's answer, or a tool call."""

    role: Literal["user", "assistant", "tool"]
    text: str
    calls: list[dict[str, str]] = field(default_factory=list)  # tool calls: {"call": ..., "result": ...}


class ThreadIndex(Handle):
    """Which chat threads each web user has (title, times); thread-safe."""

    def __init__(self, path: Path | str):
        self.store = Store(path, metadata)

    @classmethod
    def for_home(cls, layout: HomeLayout) -> ThreadIndex:
        return cls(layout.store(layout.home / INDEX_FILE))

    def create(self, user: str, title: str) -> ThreadInfo:
        now = time.time()
        info = ThreadInfo(id=uuid.uuid4().hex[:12], user=user, title=_title(title), created_at=now, updated_at=now)
        with self.store.write() as conn:
            conn.execute(threads.insert().values(id=info.id, user=info.user, title=info.title,
                                                 created_at=info.created_at, updated_at=info.updated_at))
        return info

    def get(self, user: str, thread_id: str) -> ThreadInfo | None:
        """The user's thread with this id; another user's thread is None (as if it did not exist)."""
        with self.store.read() as conn:
            row = conn.execute(sa.select(threads).where(_c.id == thread_id, _c.user == user)).mappings().first()
        return ThreadInfo(**row) if row else None

    def touch(self, info: ThreadInfo) -> None:
        with self.store.write() as conn:
            conn.execute(threads.update().where(_c.id == info.id).values(updated_at=time.time()))

    def list(self, user: str, limit: int = 50) -> list[ThreadInfo]:
        """The user's threads, most recently used first."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(threads).where(_c.user == user).order_by(_c.updated_at.desc())
                                .limit(limit)).mappings().all()
        return [ThreadInfo(**r) for r in rows]


def _title(text: str) -> str:
    line = " ".join(text.split())
    return (line[:77] + "...") if len(line) > 80 else (line or "new chat")


def history(layout: HomeLayout, info: ThreadInfo) -> tuple[list[Turn], str]:
    """The thread's messages from the chat graph's checkpoint, and the brain that answered last."""
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from graphs.chat import build_chat
    from graphs.checkpoint import open_checkpointer

    with open_checkpointer(layout) as saver:
        graph = build_chat().compile(checkpointer=saver)
        values: dict[str, Any] = graph.get_state(
            {"configurable": {"thread_id": f"chat-{info.graph_thread}"}}).values  # type: ignore[arg-type]
    turns: list[Turn] = []
    pending: dict[str, dict[str, str]] = {}  # tool call id -> its box, to attach the result
    for m in values.get("messages", []):
        if isinstance(m, HumanMessage):
            turns.append(Turn("user", str(m.content)))
        elif isinstance(m, AIMessage) and m.tool_calls:
            turn = Turn("tool", "")
            for tc in m.tool_calls:
                box = {"call": f"{tc['name']}({', '.join(f'{k}={v!r}' for k, v in tc['args'].items())})",
                       "result": ""}
                pending[str(tc.get("id") or tc["name"])] = box
                turn.calls.append(box)
            turns.append(turn)
        elif isinstance(m, ToolMessage):
            found = pending.get(str(m.tool_call_id))
            if found is not None:
                found["result"] = f"{m.name}: {str(m.content)[:2000]}"
        elif isinstance(m, AIMessage):
            turns.append(Turn("assistant", str(m.content)))
    return turns, str(values.get("brain", ""))
