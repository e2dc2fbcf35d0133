"""What answers a scoring request: a loaded version, its decision on a batch (scores, labels, who answered and
why), and the scored batch the HTTP routes build their responses from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ml_core.adopted import RegistryModel
from ml_core.serving.contract import ValidatedBatch
from ml_core.serving.model_worker import ModelWorker


@dataclass
class LoadedVersion:
    version: str
    model: RegistryModel
    worker: ModelWorker
    smoke_ms: float


@dataclass
class Decision:
    scores: list[float]  # Python numbers: what the response and the log take (a request's few, cheaper than numpy)
    labels: list[int]
    version: str
    role: str
    fallback_reason: str | None = None
    intended_version: str | None = None


@dataclass
class ScoredBatch:
    """What one scoring call produced: the validated batch and the decision that answered its valid records."""

    request_id: str  # the prediction log's key for this request
    batch: ValidatedBatch
    decision: Decision
    scores: list[float]  # one per valid record, in ``batch.records`` order
    labels: list[int]


def labels_of(scores: list[float], threshold: float) -> list[int]:
    """1 where a score is at or above ``threshold``, else 0."""
    return [1 if s >= threshold else 0 for s in scores]


async def answer(lv: LoadedVersion, records: list[dict[str, Any]], budget_s: float, role: str,
                 reason: str | None = None, intended: str | None = None) -> Decision:
    """``lv``'s decision on ``records`` (``TimeoutError`` past ``budget_s``, or what the model raised)."""
    scores = (await lv.worker.score(records, budget_s)).tolist()
    return Decision(scores, labels_of(scores, lv.model.threshold), lv.version, role, reason, intended)
