"""Fit a chat thread's prompt into the model's context: the system prompt, the latest turn, and as much of the
earlier conversation as the rest of the window holds (langchain-core's ``trim_messages``).

The checkpointed thread keeps every message; only what is sent is trimmed. Tokens are counted approximately
(``count_tokens_approximately``: about four characters a token, plus a few per message) — the same for every
endpoint, and no tokenizer to download; the answer's ``llm_max_tokens`` and the tools' schemas are reserved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.utils.function_calling import convert_to_openai_tool


def tools_tokens(tools: Sequence[Any]) -> int:
    """About how many tokens the tools' schemas take in the request (they count against the context too)."""
    if not tools:
        return 0
    text = json.dumps([convert_to_openai_tool(t) for t in tools])
    return count_tokens_approximately([SystemMessage(text)])


def fit_to_context(system: SystemMessage, history: Sequence[BaseMessage], budget: int) -> list[BaseMessage]:
    """``[system, *recent earlier turns, *latest turn]`` within ``budget`` tokens. The latest turn (the last
    human message and the tool calls and results after it) is always sent whole, even over budget: without it
    there is no question to answer. Earlier turns are kept whole, newest first, each starting at a human message
    (so no tool result is sent without the call it answers)."""
    last_human = max((i for i, m in enumerate(history) if isinstance(m, HumanMessage)), default=0)
    earlier, turn = list(history[:last_human]), list(history[last_human:])
    room = budget - count_tokens_approximately([system, *turn])
    kept: list[BaseMessage] = []
    if earlier and room > 0:
        kept = trim_messages(earlier, max_tokens=room, token_counter=count_tokens_approximately, strategy="last",
                             start_on="human", allow_partial=False)
    return [system, *kept, *turn]
