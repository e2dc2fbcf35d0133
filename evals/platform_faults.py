"""Faults of the platform under the model, which a benchmark world applies to its serving process (the traffic
simulator never sees them): the infrastructure causes triage must tell apart from the model's."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServiceCrash(BaseModel):
    """The scoring process is killed with SIGKILL (as the kernel's OOM killer does) part-way through tick 1's
    traffic and nobody restarts it: the rest of that tick's requests, and every later tick's, fail to connect.
    Nothing is wrong with the model; the platform under it is gone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["service_crash"] = "service_crash"
    after_share: float = Field(default=0.5, gt=0, lt=1, description="share of tick 1's requests answered before "
                               "the kill")

    def split(self, requests: int) -> int:
        """How many of ``requests`` are answered before the kill: at least one, and at least one after it."""
        return min(max(1, round(requests * self.after_share)), max(1, requests - 1))
