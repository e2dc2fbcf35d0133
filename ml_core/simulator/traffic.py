"""Replay customers against the scoring service at a chosen rate, injecting a scenario's faults."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import numpy as np
import pandas as pd

from ml_core.data.schema import TableSchema
from ml_core.predlog import PredictionLog
from ml_core.simulator.faults import apply_feature_faults, relabel, sample_customers, to_records
from ml_core.simulator.scenario import Scenario

Progress = Callable[[int, int], None]


@dataclass
class TrafficResult:
    scenario: str
    run_id: str
    sent: int = 0
    ok: int = 0
    rejected: int = 0  # requests refused whole (422: every record invalid)
    failed: int = 0
    records: int = 0  # records scored
    rejected_records: int = 0  # records refused, in whole or partly valid requests
    fallbacks: int = 0
    started: float = 0.0
    onset_ts: float = 0.0
    finished: float = 0.0
    versions: dict[str, int] = field(default_factory=dict)
    pending_labels: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {"scenario": self.scenario, "requests": self.sent, "ok": self.ok, "rejected": self.rejected,
                "rejected_records": self.rejected_records, "failed": self.failed, "records": self.records,
                "fallbacks": self.fallbacks,
                "versions": self.versions, "labels_pending": len(self.pending_labels),
                "seconds": round(self.finished - self.started, 2)}


def run_traffic(base_url: str, scenario: Scenario, pool: pd.DataFrame, *, schema: TableSchema,
                reference_std: dict[str, float] | None = None, progress: Progress | None = None,
                timeout_s: float = 10.0) -> TrafficResult:
    """Send ``scenario.requests`` batches to ``base_url``/predict; faults start after ``scenario.onset``.

    Labels are not sent: they are returned in ``pending_labels`` and arrive later via
    :func:`deliver_labels`, as delayed labels do in production.
    """
    rng = np.random.default_rng(scenario.seed)
    std = reference_std if reference_std is not None else {
        n: float(pool[n].std()) for n in schema.numeric_names}
    run_id = uuid.uuid4().hex[:8]
    result = TrafficResult(scenario.name, run_id, started=time.time())
    onset_index = int(round(scenario.onset * scenario.requests))
    interval = 1.0 / scenario.rate
    with httpx.Client(base_url=base_url, timeout=timeout_s) as client:
        for i in range(scenario.requests):
            due = result.started + i * interval
            if (wait := due - time.time()) > 0:
                time.sleep(wait)
            active = i >= onset_index
            if active and not result.onset_ts:
                result.onset_ts = time.time()
            batch = sample_customers(pool, scenario.batch_size, rng, scenario, active, schema)
            if active:
                batch = apply_feature_faults(batch, scenario, std, rng, schema)
            # <customer>~<request>: unique per record, yet traceable to the customer (grouped splits).
            id_col = schema.id_column or "record_id"
            if id_col not in batch.columns:  # a table without ids: each record is its own "customer"
                batch[id_col] = [f"r{i}-{j}" for j in range(len(batch))]
            ids = [f"{c}~{scenario.name}-{run_id}-{i}-{j}" for j, c in enumerate(batch[id_col].astype(str))]
            batch[id_col] = ids
            labels = relabel(batch, scenario, rng, schema) if active else schema.labels_to_int(
                batch[schema.label]).to_numpy()
            _send(client, to_records(batch, scenario, active, rng, schema), ids, labels, scenario, rng, result)
            if progress:
                progress(i + 1, scenario.requests)
    result.finished = time.time()
    return result


def _send(client: httpx.Client, records: list[dict], ids: list[str], labels: np.ndarray, scenario: Scenario,
          rng: np.random.Generator, result: TrafficResult) -> None:
    result.sent += 1
    try:
        resp = client.post("/predict", json={"records": records})
    except httpx.HTTPError as exc:
        result.failed += 1
        result.errors.append(f"{type(exc).__name__}: {exc}")
        return
    if resp.status_code == 422:
        result.rejected += 1
        result.rejected_records += len(records)
        return
    if resp.status_code != 200:
        result.failed += 1
        result.errors.append(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return
    result.ok += 1
    body = resp.json()
    result.rejected_records += int(body.get("rejected", 0))
    for pred in body["predictions"]:
        result.records += 1
        result.fallbacks += bool(pred.get("fallback"))
        result.versions[pred["version"]] = result.versions.get(pred["version"], 0) + 1
    keep = rng.random(len(ids)) < scenario.label_fraction
    result.pending_labels += [(rid, int(y)) for rid, y, k in zip(ids, labels, keep, strict=True) if k]


def deliver_labels(log: PredictionLog, result: TrafficResult) -> int:
    """The delayed labels arrive: write them so realised performance can be measured."""
    n = log.write_labels(result.pending_labels)
    result.pending_labels = []
    return n
