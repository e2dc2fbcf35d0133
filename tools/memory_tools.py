"""Read-only recall from the agent's memory (ChromaDB): past incidents, post-mortems, decisions, outcomes."""

from __future__ import annotations

from agent.context import OpsContext
from tools.common import ToolInputError, clip, errors_as_data, iso, num
from tools.results import IncidentRecall, MemoryBrief

MAX_TEXT = 300
MAX_HITS = 10


@errors_as_data()
def recall_incidents(ctx: OpsContext, query: str, model: str | None = None, k: int = 3) -> IncidentRecall:
    """Search the agent's memory for past incidents, post-mortems, decisions and their outcomes that resemble a
    description (semantic search). Use it to learn what happened before and whether the fix worked; cite the
    memory ids you rely on.

    Args:
        query: what to look for, in words, e.g. "total_day_minutes drifted and F1 dropped".
        model: only memories about this model (e.g. "churn"); omit to search all models.
        k: how many memories to return, 1 to 10 (default 3).
    """
    if not query.strip():
        raise ToolInputError("query is empty; describe the problem in a few words")
    if not ctx.layout.memory_dir.exists():  # nothing remembered yet; do not create an empty store
        return IncidentRecall(query=clip(query, 200))
    hits = ctx.memory.search(query, k=max(1, min(int(k), MAX_HITS)), model=model)
    return IncidentRecall(query=clip(query, 200), hits=[
        MemoryBrief(id=h.id, kind=h.kind, model=h.model, similarity=num(h.similarity, 3) or 0.0,
                    created=iso(h.created_at), text=clip(h.text, MAX_TEXT),
                    metadata={key: clip(str(v), 80) for key, v in list(h.metadata.items())[:6]})
        for h in hits])
