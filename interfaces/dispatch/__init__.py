"""The dispatcher the web page, the Slack bot and the scheduler share inside `opsagent serve`."""

from interfaces.dispatch.dispatcher import (
    MAX_MESSAGE_CHARS,
    ContextFactory,
    Dispatcher,
    DispatchError,
    Event,
    Job,
    NotApprover,
    default_context,
)

__all__ = ["MAX_MESSAGE_CHARS", "ContextFactory", "DispatchError", "Dispatcher", "Event", "Job", "NotApprover",
           "default_context"]
