"""The dispatcher the web page, the Slack bot and the scheduler share inside `opsagent serve`: ``dispatcher``
(the facade), ``jobs`` (background work), ``events`` (what people hear about), ``approvers`` (who may answer),
``checks`` (what a person typed) and ``errors``."""

from interfaces.dispatch.checks import MAX_MESSAGE_CHARS
from interfaces.dispatch.dispatcher import ContextFactory, Dispatcher, default_context
from interfaces.dispatch.errors import DispatchError, NotApprover
from interfaces.dispatch.events import Event, EventBus
from interfaces.dispatch.jobs import Job, JobPool

__all__ = ["MAX_MESSAGE_CHARS", "ContextFactory", "DispatchError", "Dispatcher", "Event", "EventBus", "Job",
           "JobPool", "NotApprover", "default_context"]
