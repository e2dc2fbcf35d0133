"""Events people should hear about (an incident and its proposal, a remediation, a refusal) and the bus that
hands each to its subscribers: the Slack notifier posts them, the web page lists the latest."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

logger = logging.getLogger(__name__)

EventKind = Literal["incident", "resolved", "quiet", "triage_failed", "remediation_started", "remediation",
                    "answered", "refused"]


@dataclass(frozen=True)
class Event:
    """Something people should hear about: an incident and its proposal, a remediation, a refusal."""

    kind: EventKind
    model: str | None
    text: str
    via: str
    actor: str
    at: float  # unix time, from the dispatcher's clock
    incident_id: str | None = None
    proposal_id: str | None = None
    postmortem: str | None = None
    status: str | None = None  # remediation status: executed, failed, rejected, refused, pending
    steps: tuple[str, ...] = ()


class EventBus:
    """Keeps the latest ``keep`` events and calls every subscriber with each new one. Thread-safe."""

    def __init__(self, keep: int = 200):
        self._lock = threading.Lock()
        self._events: deque[Event] = deque(maxlen=keep)
        self._subscribers: list[Callable[[Event], None]] = []

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback`` with every event (on the thread that produced it; exceptions are logged)."""
        with self._lock:
            self._subscribers.append(callback)

    def publish(self, event: Event) -> None:
        with self._lock:
            self._events.append(event)
            subscribers = list(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a broken notifier (Slack down) must not break the job that published
                logger.exception("event subscriber failed on %s", event.kind)

    def latest(self, limit: int = 50) -> list[Event]:
        """Newest first."""
        with self._lock:
            return list(self._events)[::-1][:limit]
