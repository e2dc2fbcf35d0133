"""Checks on what a person typed, before anything runs: a chat message and its thread."""

from __future__ import annotations

from interfaces.dispatch.errors import DispatchError

MAX_MESSAGE_CHARS = 4000  # chat input beyond this is refused, not truncated silently


def chat_message(text: str | None, thread_id: str | None) -> str:
    """The message, stripped; refuses an empty or oversized one and a missing or overlong thread id."""
    text = (text or "").strip()
    if not text:
        raise DispatchError("the message is empty; ask a question, e.g. 'status churn'")
    if len(text) > MAX_MESSAGE_CHARS:
        raise DispatchError(f"the message is {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}. "
                            f"Shorten it or attach less data")
    if not thread_id or len(thread_id) > 200:
        raise DispatchError("a chat thread id of 1-200 characters is needed")
    return text
