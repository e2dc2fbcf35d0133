"""What a rule of the offline policy concludes (shared by ``rules`` and ``infrastructure``)."""

from __future__ import annotations

from typing import NamedTuple

from agent.diagnosis import Action
from ml_core.simulator.scenario import Category


class Verdict(NamedTuple):
    """What the first matching rule concludes, and how many signals agree with it."""

    category: Category
    culprit: list[str]
    action: Action
    reason: str  # one sentence, completing "<category>: ..."
    agree: int
    awaiting_labels: bool = False  # a retrain proposed to run once labels confirm the harm
