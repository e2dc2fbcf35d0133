"""The typed facts a triage reads from one monitoring pass: timeouts per version, the fields the service
rejected, which version went live in the window, and each detector of ``run_check`` on its own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml_core.deploy.base import DeploymentStatus
from ml_core.monitoring.check import MonitoringThresholds, check_prior_shift, check_quality, check_slos, run_check
from ml_core.monitoring.releases import RegisteredVersion, recent_versions, release_in_window
from ml_core.monitoring.slo import RejectedField, rejected_fields, slo_report
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.registry import VersionInfo
from ml_core.serving.contract import FieldError, RequestRejected

T0 = 1_700_000_000.0


def _rows(version: str, n: int, latency: float, *, role: str = "champion", reason: str | None = None,
          intended: str | None = None) -> pd.DataFrame:
    return pd.DataFrame({"version": version, "role": role, "fallback_reason": reason, "intended_version": intended,
                         "latency_ms": [latency] * n})


# ---- timeouts per version ------------------------------------------------------------------------------
def test_timeouts_are_errors_charged_to_the_intended_version():
    window = pd.concat([
        _rows("1", 50, 20.0),
        _rows("1", 30, 260.0, role="fallback", reason="timeout after 250 ms", intended="2"),
        _rows("1", 10, 30.0, role="fallback", reason="error: RuntimeError: boom", intended="3"),
    ], ignore_index=True)
    by = {v.version: v for v in slo_report(window, min_requests=5).versions}
    assert set(by) == {"1", "2", "3"}
    assert (by["2"].errors, by["2"].timeouts, by["2"].n) == (30, 30, 30)
    assert (by["3"].errors, by["3"].timeouts) == (10, 0)  # a crash is an error, not a timeout
    assert (by["1"].errors, by["1"].timeouts) == (0, 0)
    assert by["2"].latency_breached and not by["3"].latency_breached


def test_a_window_without_fallback_reasons_has_no_timeouts():
    report = slo_report(_rows("1", 40, 20.0).drop(columns=["fallback_reason"]))
    assert report.overall.timeouts == 0 and report.overall.errors == 0


# ---- rejected fields from the prediction log -----------------------------------------------------------
def _reject(log: PredictionLog, errors: list[FieldError], rows: int) -> None:
    rej = RequestRejected(422, "invalid", errors, rows=rows)
    log.write_rejection("req", "churn", rej.body(), rows)


def test_rejected_fields_count_field_and_problem_pairs_from_the_service_json(tmp_path):
    log = PredictionLog(tmp_path / "churn.db")
    _reject(log, [FieldError(0, "total_eve_charge", "null"), FieldError(1, "total_eve_charge", "null"),
                  FieldError(1, "total_eve_minutes", "null")], rows=2)
    _reject(log, [FieldError(0, "total_eve_charge", "null"), FieldError(0, "account_length", "wrong_type")], rows=1)
    _reject(log, [FieldError(None, "records", "bad_body", "not a list")], rows=0)
    _reject(log, [FieldError(None, None, "malformed_json", "bad")], rows=0)  # no field: not counted
    log.write_rejection("req", "churn", ["not", "the", "service's", "shape"], 1)
    rejections = log.rejections()
    log.close()
    got = rejected_fields(rejections)
    assert [r.model_copy(update={"first_at": None}) for r in got] == [
        RejectedField(field="total_eve_charge", problem="null", count=3),
        RejectedField(field="total_eve_minutes", problem="null", count=1),
        RejectedField(field="account_length", problem="wrong_type", count=1),
        RejectedField(field="records", problem="bad_body", count=1)]
    # Each pair's first bad time: total_eve_charge's first rejection came before account_length's.
    assert all(r.first_at is not None for r in got) and got[0].first_at <= got[2].first_at <= got[3].first_at
    assert [r.field for r in rejected_fields(rejections, limit=2)] == ["total_eve_charge", "total_eve_minutes"]


def test_data_quality_carries_the_rejected_fields(tmp_path):
    log = PredictionLog(tmp_path / "churn.db")
    for _ in range(30):
        _reject(log, [FieldError(0, "total_night_minutes", "missing")], rows=1)
    rejections = log.rejections()
    log.close()
    findings, quality = check_quality(_rows("1", 0, 0.0), rejections, ["total_night_minutes"], MonitoringThresholds())
    assert [f.kind for f in findings] == ["rejection_spike"]
    assert quality.n_rejected == 30
    assert [r.model_copy(update={"first_at": None}) for r in quality.rejected_fields] == [
        RejectedField(field="total_night_minutes", problem="missing", count=30)]
    assert quality.rejected_fields[0].first_at is not None
    _, counted = check_quality(_rows("1", 0, 0.0), 30, [], MonitoringThresholds())
    assert counted.n_rejected == 30 and counted.rejected_fields == []  # a bare count names no field


# ---- which version went live ------------------------------------------------------------------------
def _status(**kw) -> DeploymentStatus:
    return DeploymentStatus(**{"backend": "local", "model": "churn", "running": True, "ready": True, **kw})


def _version(v: str, created: float, *aliases: str) -> VersionInfo:
    return VersionInfo(name="churn", version=v, run_id=None, aliases=aliases, tags={}, created_ms=int(created * 1000))


def test_recent_versions_are_newest_first_and_flag_the_window():
    versions = [_version(str(i), T0 - 3600 + 600 * i) for i in range(1, 8)]
    recent = recent_versions(versions, since=T0)
    assert [v.version for v in recent] == ["7", "6", "5", "4", "3"]
    assert [v.in_window for v in recent] == [True, True, False, False, False]  # 6 at T0 (inclusive), 7 at T0 + 600
    assert recent[0].registered_at == T0 + 600


REGISTERED_V2 = [RegisteredVersion(version="2", registered_at=T0 + 30, in_window=True),
                 RegisteredVersion(version="1", registered_at=T0 - 86400, in_window=False)]


@pytest.mark.parametrize(("status", "recent", "expected"), [
    # a canary taking traffic went live, whenever it was registered
    (_status(champion="1", canary="3", canary_weight=0.2, updated_at=T0 - 600), [], ("3", "canary", T0 - 600)),
    # a canary with no traffic is not live
    (_status(champion="1", canary="3", canary_weight=0.0, updated_at=T0 - 600), [], None),
    # the champion changed in the window
    (_status(champion="2", previous_champion="1", updated_at=T0 + 60), [], ("2", "promoted", T0 + 60)),
    # the champion changed before the window
    (_status(champion="2", previous_champion="1", updated_at=T0 - 60), [], None),
    # a champion registered in the window (straight to champion)
    (_status(champion="2", updated_at=T0 - 60), REGISTERED_V2, ("2", "registered", T0 + 30)),
    # an old champion, a newer version registered in the window but not serving
    (_status(champion="1", updated_at=T0 - 60), REGISTERED_V2, None),
    (_status(), REGISTERED_V2, None),
])
def test_release_in_window(status, recent, expected):
    release = release_in_window(status, recent, since=T0)
    assert (release and (release.version, release.how, release.at)) == expected


# ---- detectors one by one ---------------------------------------------------------------------------
def test_check_slos_finds_latency_then_errors_per_version():
    window = pd.concat([_rows("1", 100, 20.0),
                        _rows("1", 40, 300.0, role="fallback", reason="timeout after 250 ms", intended="2")],
                       ignore_index=True)
    findings, slo = check_slos(window, MonitoringThresholds())
    assert [(f.kind, f.subject) for f in findings] == [("latency_slo", "2"), ("error_rate_slo", "2")]
    assert {v.version: v.timeouts for v in slo.versions} == {"1": 0, "2": 40}


def test_check_prior_shift_reports_actual_rates_with_labels():
    rng = np.random.default_rng(0)
    scores, ref = rng.beta(1.0, 5.0, 800), rng.beta(1.0, 5.0, 3000)
    labelled = pd.DataFrame({"actual": (rng.random(800) < 0.40).astype(int)})
    findings, prior = check_prior_shift(scores, ref, 0.5, labelled, (rng.random(3000) < 0.15).astype(int),
                                        MonitoringThresholds())
    assert [f.kind for f in findings] == ["prior_shift"]
    assert prior.actual_positive_rate == pytest.approx(0.40, abs=0.05)
    assert prior.reference_actual_positive_rate == pytest.approx(0.15, abs=0.03)
    quiet, unlabelled = check_prior_shift(scores, ref, 0.5, None, None, MonitoringThresholds())
    assert quiet == [] and unlabelled.actual_positive_rate is None


def test_run_check_on_a_log_window_fills_timeouts_and_rejected_fields(tmp_path):
    log = PredictionLog(tmp_path / "churn.db")
    rows = [PredictionRow(f"r{i}", f"c{i:05d}", T0 + i, "churn", "1", "champion" if i % 2 else "fallback",
                          None if i % 2 else "timeout after 250 ms", None if i % 2 else "2", 0.1, 0, 40.0, {})
            for i in range(60)]
    log.write_predictions(rows)
    _reject(log, [FieldError(0, "state", "unknown_category")], rows=1)
    window, rejections = log.predictions(), log.rejections()
    log.close()
    result = run_check(pd.DataFrame(), None, window, rejections=rejections, feature_columns=[])
    assert result.slo is not None and {v.version: v.timeouts for v in result.slo.versions} == {"1": 0, "2": 30}
    assert result.quality is not None
    assert [r.model_copy(update={"first_at": None}) for r in result.quality.rejected_fields] == [
        RejectedField(field="state", problem="unknown_category", count=1)]
    assert result.quality.rejected_fields[0].first_at is not None
    assert ("error_rate_slo", "2") in [(f.kind, f.subject) for f in result.findings]
