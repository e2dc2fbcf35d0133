"""What the dispatcher refuses, as messages a person can act on (the web page and Slack show them as is)."""

from __future__ import annotations


class DispatchError(ValueError):
    """Bad input from a person (unknown model, empty question, not pending): the message says what to do."""


class NotApprover(DispatchError):
    """The person is not on the approver allowlist of their interface; nothing was changed."""
