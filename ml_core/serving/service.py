"""The scoring service's core, independent of HTTP: versions, routing, fallback, logging, metrics."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml_core.adopted import RegistryModel
from ml_core.data.schema import TableSchema
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog
from ml_core.serving.batching import LogWriter, features_json
from ml_core.serving.contract import MAX_ERRORS_REPORTED, RecordValidator, RequestRejected, ValidatedBatch
from ml_core.serving.decision import Decision, LoadedVersion, ScoredBatch, answer, labels_of
from ml_core.serving.fallback import PriorScorer, Scorer, load_baseline
from ml_core.serving.metrics import ServiceMetrics
from ml_core.serving.model_worker import ModelWorker
from ml_core.serving.request_ids import RequestIds
from ml_core.serving.smoke import smoke_check
from ml_core.serving.state import DeploymentState, baseline_path, read_state, state_path

log = logging.getLogger(__name__)

ModelLoader = Callable[[str], RegistryModel]  # opsagent-trained or adopted


class ReloadError(RuntimeError):
    """A new routing could not be applied; the old routing stays."""


@dataclass
class ServiceStatus:
    ready: bool
    reason: str
    versions: dict[str, str] = field(default_factory=dict)


class ScoringService:
    """Holds loaded versions and the routing; scores validated batches with fallback and logging."""

    def __init__(self, layout: HomeLayout, model_name: str, loader: ModelLoader, *,
                 state_file: Path | None = None, schema: TableSchema, seed: int | None = None):
        self.layout = layout
        self.model_name = model_name
        self.loader = loader
        self.state_file = state_file or state_path(layout, model_name)
        self.schema = schema
        self.validator = RecordValidator(schema)
        self.metrics = ServiceMetrics(model_name)
        self.predlog = PredictionLog(layout.predictions_store(model_name))
        self.writer = LogWriter(self.predlog)
        self.rng = random.Random(seed)
        self.request_ids = RequestIds()
        self.state: DeploymentState | None = None  # the routing in force; None until the first load
        self.versions: dict[str, LoadedVersion] = {}
        self.failed: dict[str, str] = {}  # version -> why it failed readiness
        self.loading = True
        self.last_error: str | None = None
        self.baseline: Scorer | None = None
        self.prior = PriorScorer()
        self._reload_lock = asyncio.Lock()
        self._baseline_lock = threading.Lock()

    # ---- loading and routing -------------------------------------------------------------------
    async def reload(self, strict: bool = True) -> DeploymentState:
        """Read the state file, load and smoke-test new versions, then swap routing atomically.

        ``strict`` (``/admin/reload``): if any configured version fails, raise ReloadError and keep the
        old routing. Not strict (start-up): apply the routing anyway; requests meant for a failed version
        are answered by the fallback and ``/ready`` says why.
        """
        async with self._reload_lock:
            try:
                new = read_state(self.state_file, self.model_name)
            except Exception as exc:
                self.loading = False
                self.last_error = f"cannot read deployment state {self.state_file}: {exc}"
                raise ReloadError(self.last_error) from exc
            if new.model != self.model_name:
                raise ReloadError(f"state file is for model '{new.model}', this service serves '{self.model_name}'")
            fresh: dict[str, LoadedVersion] = {}
            errors: list[str] = []
            for v in new.versions():
                if v in self.versions:
                    continue
                try:
                    fresh[v] = await asyncio.to_thread(self._load_version, v)
                except Exception as exc:
                    self.failed[v] = f"{type(exc).__name__}: {exc}"
                    self.metrics.ready.labels(v).set(0)
                    errors.append(f"version {v} failed readiness: {self.failed[v]}")
            self.loading = False
            self.last_error = "; ".join(errors) or None
            if errors and strict:
                for lv in fresh.values():
                    lv.worker.close()
                raise ReloadError(self.last_error or "")
            await asyncio.to_thread(self._refresh_baseline)
            keep = set(new.versions())
            old, self.versions = self.versions, {}
            for k, lv in {**old, **fresh}.items():
                if k in keep:
                    self.versions[k] = lv
                else:
                    lv.worker.close()
                    self.metrics.ready.labels(k).set(0)
            for k in fresh:
                self.failed.pop(k, None)
                self.metrics.ready.labels(k).set(1)
            self.state = new
            self.prior = PriorScorer(prior=new.fallback_prior if new.fallback_prior is not None else 0.5)
            self.metrics.canary_weight.set(new.canary_weight if new.canary else 0.0)
            return new

    def _load_version(self, version: str) -> LoadedVersion:
        model = self.loader(version)
        ms = smoke_check(model, self.schema)
        worker = ModelWorker(f"{self.model_name}-{version}", model.predict_proba, self.schema.feature_names,
                             predict_records=getattr(model, "predict_proba_records", None),
                             inline=bool(getattr(model, "scores_in_bounded_time", False)))
        log.info("loaded %s version %s (smoke %.1f ms)", self.model_name, version, ms)
        return LoadedVersion(version, model, worker, ms)

    def _refresh_baseline(self) -> None:
        with self._baseline_lock:
            self.baseline = load_baseline(baseline_path(self.layout, self.model_name))

    def status(self) -> ServiceStatus:
        st = self.state
        if st is None:
            # No routing yet and no error: still starting (reload clears `loading` a moment before it swaps
            # the routing in; calling that gap "no routing loaded" made start-up waits give up early).
            return ServiceStatus(False, self.last_error or "loading model versions")
        if st.champion is None:
            return ServiceStatus(False, f"no champion deployed for '{self.model_name}'")
        missing = [f"{v} ({self.failed.get(v, 'not loaded')})" for v in st.versions() if v not in self.versions]
        if missing:
            return ServiceStatus(False, f"versions not ready: {', '.join(missing)}")
        return ServiceStatus(True, "ok", {v: "ready" for v in st.versions()})

    def route(self) -> tuple[str | None, str]:
        """The (version, role) the next request goes to."""
        st = self.state
        if st is None or st.champion is None:
            return None, "champion"
        if st.canary is not None and st.canary_weight > 0 and self.rng.random() < st.canary_weight:
            return st.canary, "canary"
        return st.champion, "champion"

    # ---- scoring -------------------------------------------------------------------------------
    def role_of(self, version: str) -> str:
        """The role ``version`` holds in the routing (a request pinned to it is logged under that role)."""
        st = self.state
        if st is not None and version == st.canary:
            return "canary"
        return "champion" if st is not None and version == st.champion else "previous"

    async def score(self, body: Any, started: float | None = None, *, version: str | None = None) -> ScoredBatch:
        """Validate, route (or use the pinned ``version``), score the valid records (with fallback), log them.

        The one scoring path behind ``/predict`` (``body`` its JSON, or the batch ``validate_raw`` read from it) and
        v2's ``infer`` (``contract.Columns``).
        Invalid records do not cost the batch: they are left out, listed in the batch's ``errors`` and logged as
        one rejection entry whose ``rows`` is their count, so the rejection rate monitoring reads is per record.
        """
        t0 = started or time.perf_counter()
        request_id = self.request_ids.next()
        try:
            batch = body if isinstance(body, ValidatedBatch) else self.validator.validate(body)
        except RequestRejected as rej:
            self.reject(request_id, rej)
            raise
        if batch.errors:
            self.reject(request_id, RequestRejected(
                422, f"{batch.rejected} of {batch.total} record(s) invalid; the other {len(batch.records)} "
                     "were scored", batch.errors, rows=batch.rejected), whole=False)
        version, role = self.route() if version is None else (version, self.role_of(version))
        d = await self._decide(batch.records, version, role)
        latency_ms = (time.perf_counter() - t0) * 1000
        now = time.time()
        scores, labels = d.scores, d.labels
        # PredictionRow's fields, as the tuples the log inserts (``PredictionLog.append_rows``): one tuple a row
        model, version, role, why, intended = self.model_name, d.version, d.role, d.fallback_reason, d.intended_version
        await self.writer.write([(request_id, rid, now, model, version, role, why, intended, s, y, latency_ms,
                                  features_json(rec))
                                 for rec, rid, s, y in zip(batch.records, batch.ids, scores, labels, strict=True)])
        self.metrics.answered(d.version, d.role, len(scores), time.perf_counter() - t0)
        return ScoredBatch(request_id, batch, d, scores, labels)

    def reject(self, request_id: str, rej: RequestRejected, *, whole: bool = True) -> None:
        """Log refused records (``rej.rows`` of them) with their errors, and count them in the metrics.

        ``whole=False``: the rest of the request was scored, so it is not counted as a rejected request."""
        errors = [e.to_dict() for e in rej.errors[:MAX_ERRORS_REPORTED]]
        self.predlog.write_rejection(request_id, self.model_name,
                                     {"detail": rej.message, "error_count": len(rej.errors), "errors": errors},
                                     rej.rows)
        if whole:
            self.metrics.rejected()
        self.metrics.rejected_records.inc(rej.rows)
        for problem in {e.problem for e in rej.errors}:
            self.metrics.rejections.labels(problem).inc()

    async def _decide(self, records: list[dict[str, Any]], version: str | None, role: str) -> Decision:
        budget_s = (self.state.latency_budget_ms if self.state else 250.0) / 1000
        if version is None:
            reason = "no champion deployed"
        elif version not in self.versions:
            reason = f"version {version} not loaded: {self.failed.get(version, 'loading')}"
        else:
            try:
                return await answer(self.versions[version], records, budget_s, role)
            except TimeoutError:
                reason = f"timeout after {budget_s * 1000:g} ms"
            except Exception as exc:
                reason = f"error: {type(exc).__name__}: {exc}"
        self.metrics.fallbacks.labels(version or "", reason.split(" ", 1)[0].rstrip(":")).inc()
        return await self._fallback(records, version, role, reason, budget_s)

    async def _fallback(self, records: list[dict[str, Any]], intended: str | None, role: str, reason: str,
                        budget_s: float) -> Decision:
        """The canary falls back to the champion, the champion to the previous champion, then the baseline."""
        st = self.state
        candidates: list[str] = []
        if st is not None:
            if role == "canary" and st.champion:
                candidates.append(st.champion)
            if st.previous_champion and st.previous_champion != intended:
                candidates.append(st.previous_champion)
        for v in candidates:
            lv = self.versions.get(v)
            if lv is None:
                continue
            try:
                return await answer(lv, records, budget_s, "fallback", reason, intended)
            except Exception as exc:  # the fallback failed too: fall further
                log.warning("fallback version %s failed: %s", v, exc)
        scorer, name = (self.baseline, "baseline") if self.baseline is not None else (self.prior, "prior")
        df = pd.DataFrame.from_records(records, columns=self.schema.feature_names)
        try:
            scores = np.asarray(await asyncio.to_thread(scorer.predict_proba, df), dtype=np.float64).tolist()
        except Exception as exc:
            log.warning("baseline failed, answering with the prior: %s", exc)
            scorer, name = self.prior, "prior"
            scores = np.asarray(scorer.predict_proba(df), dtype=np.float64).tolist()
        return Decision(scores, labels_of(scores, scorer.threshold), name, "fallback", reason, intended)

    async def close(self) -> None:
        for lv in self.versions.values():
            lv.worker.close()
        await asyncio.to_thread(self.writer.close)
        self.predlog.close()
