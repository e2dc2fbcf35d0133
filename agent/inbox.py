"""Agent Inbox's wire format, on both sides of ``interrupt()``.

A graph pauses on ``interrupt([HumanInterrupt])`` — a list of one ``{action_request: {action, args}, config:
{allow_ignore, allow_respond, allow_edit, allow_accept}, description}`` — and is resumed with a list of one
``HumanResponse`` ``{type, args}`` (langgraph.prebuilt.interrupt; the agent-inbox README). Agent Inbox sends
``accept`` and ``edit`` with an ActionRequest as ``args``, every value of its ``args`` turned into a string.
Our own interfaces send one answer (not a list) carrying who answered and from where, and an edit as the
changed fields only. ``agent.proposals.parse_response`` reads both through the helpers here.
"""

from __future__ import annotations

import json
from typing import Any


def is_action_request(value: Any) -> bool:
    """An ``ActionRequest`` ({action, args}) rather than a flat {field: value} edit (no proposal field is
    named ``action`` or ``args``)."""
    return isinstance(value, dict) and set(value) == {"action", "args"} and isinstance(value["args"], dict)


def unwrap_answer(value: Any) -> Any:
    """The one answer of a resume value: Agent Inbox sends a list holding one HumanResponse."""
    if isinstance(value, list | tuple) and len(value) == 1:
        return value[0]
    return value


def with_sender(value: Any, *, by: str, via: str) -> Any:
    """A JSON answer with who answered and from where filled in where it does not say (the standard
    HumanResponse has neither: the run's context knows the interface)."""
    if not isinstance(value, dict):
        return value
    return {"by": by, "via": via, **value}


def edit_changes(current: dict[str, Any], edited: dict[str, Any]) -> dict[str, Any]:
    """The fields an edit changes. ``edited`` is a flat {field: value} edit, or an ActionRequest whose args are
    the whole proposal with some values changed — and, from Agent Inbox, every value a string: a string is read
    as JSON where the field's value is not a string ("40" -> 40, "true" -> True, "[...]" -> a list)."""
    if not is_action_request(edited):
        return dict(edited)
    changes: dict[str, Any] = {}
    for name, value in edited["args"].items():
        before = current.get(name)
        after = _as_json(value) if isinstance(value, str) and not isinstance(before, str) else value
        if name not in current or after != before:
            changes[name] = after
    return changes


def _as_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # not JSON: the value as typed; validation says what is wrong with it
