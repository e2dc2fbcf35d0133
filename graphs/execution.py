"""How far an approved proposal's execution got: the record each checkpointed phase hands the next."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agent.context import OpsContext


@dataclass
class Execution:
    """How far an approved proposal got; checkpointed after every phase, so a crash resumes at ``phase``."""

    ok: bool = False  # the steps ran (a gate that refuses is still ok: nothing broke, nothing shipped)
    fixed: bool = False  # the change is live and passed its checks
    outcome: str = ""
    steps: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)
    phase: str = "start"  # the next phase to run; "done" when finished, "interrupted" when unsafe to go on
    watch_since: float | None = None  # when the canary went live
    interrupted_at: str = ""  # the phase that stopped as unsafe; a retry starts there

    def step(self, ctx: OpsContext, line: str) -> None:
        self.steps.append(line)
        ctx.progress(line)

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "interrupted")

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, data: dict[str, Any] | None) -> Execution:
        return cls(**data) if data else cls()
