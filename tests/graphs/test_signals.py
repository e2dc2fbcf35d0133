"""Triage's gather branches fill typed signals: the deploy history says which version went live and how, and
``signals_from`` turns both branches' JSON-ready results into the typed fields the policy reads."""

from __future__ import annotations

import json
from types import SimpleNamespace

from agent.policy import diagnose
from graphs.signals import gather_deploys, signals_from
from ml_core.deploy.base import DeploymentStatus
from ml_core.monitoring.performance import PriorShift
from ml_core.monitoring.slo import RejectedField, VersionSLO
from ml_core.registry import RegistryError, VersionInfo

T0 = 1_700_000_000.0


def _ctx(status: DeploymentStatus | Exception, versions: list[VersionInfo] | Exception) -> SimpleNamespace:
    """Just what gather_deploys touches: the backend's status and the registry's versions."""
    def read_status() -> DeploymentStatus:
        if isinstance(status, Exception):
            raise status
        return status

    def read_versions(model: str) -> list[VersionInfo]:
        if isinstance(versions, Exception):
            raise versions
        return versions

    return SimpleNamespace(backend=lambda model: SimpleNamespace(status=read_status),
                           registry=SimpleNamespace(versions=read_versions))


def _version(v: str, created: float, *aliases: str, **tags: str) -> VersionInfo:
    return VersionInfo(name="churn", version=v, run_id=None, aliases=aliases, tags=tags, created_ms=int(created * 1000))


def _status(**kw) -> DeploymentStatus:
    return DeploymentStatus(**{"backend": "local", "model": "churn", "running": True, "ready": True, **kw})


def test_a_canary_in_the_window_is_the_release():
    ctx = _ctx(_status(champion="1", canary="2", canary_weight=1.0, updated_at=T0 + 60),
               [_version("1", T0 - 86400, "champion"), _version("2", T0 + 30, scenario="slow_release")])
    out = gather_deploys(ctx, "churn", T0)
    json.dumps(out)  # graph state: JSON-ready
    assert out["release"] == {"version": "2", "how": "canary", "at": T0 + 60}
    assert [(v["version"], v["in_window"]) for v in out["versions"]] == [("2", True), ("1", False)]
    assert out["recent"][0] == "routing changed in this window: champion v1, canary v2 at 100%"
    assert out["recent"][1].startswith("v2 registered 2023-11-14 22:13:50 UTC (new in this window); aliases -; ")
    assert out["recent"][1].endswith("{'scenario': 'slow_release'}")
    assert out["recent"][2].endswith("aliases ['champion']; {}")


def test_a_champion_registered_in_the_window_is_the_release_even_when_the_registry_lists_many():
    versions = [_version(str(i), T0 - 3600 * (9 - i)) for i in range(1, 9)] + [_version("9", T0 + 5, "champion")]
    out = gather_deploys(_ctx(_status(champion="9", updated_at=T0 - 86400), versions), "churn", T0)
    assert out["release"] == {"version": "9", "how": "registered", "at": T0 + 5}
    assert len(out["versions"]) == 5 and len(out["recent"]) == 5


def test_no_release_when_nothing_changed_or_the_state_cannot_be_read():
    quiet = gather_deploys(_ctx(_status(champion="1", updated_at=T0 - 60), [_version("1", T0 - 86400)]),
                           "churn", T0)
    assert quiet["release"] is None and len(quiet["recent"]) == 1 and "new in this window" not in quiet["recent"][0]
    no_registry = gather_deploys(_ctx(_status(champion="2", previous_champion="1", updated_at=T0 + 9),
                                      RegistryError("no model")), "churn", T0)
    assert no_registry["release"] == {"version": "2", "how": "promoted", "at": T0 + 9}
    assert no_registry["versions"] == []
    down = gather_deploys(_ctx(RuntimeError("connection refused"), []), "churn", T0)
    assert (down["release"], down["versions"]) == (None, [])
    assert down["recent"] == ["deployment status unavailable: connection refused"]


def test_signals_from_fills_the_typed_fields_the_policy_reads():
    slow = VersionSLO(version="2", n=60, p50_ms=250.0, p95_ms=251.0, p99_ms=252.0, errors=60, timeouts=60,
                      error_rate=1.0, latency_breached=True, error_rate_breached=True)
    prior = PriorShift(n=60, predicted_positive_rate=0.1, reference_predicted_positive_rate=0.13, mean_score=0.1,
                       reference_mean_score=0.13, predicted_rate_pvalue=0.5, shifted=False)
    monitor = {"summary": "1 finding(s)", "n_rows": 60, "n_labelled": 0,
               "findings": [{"kind": "error_rate_slo", "severity": "critical", "subject": "2",
                             "message": "version 2 error/fallback rate 100.0% > 1.0%", "evidence": {}}],
               "slo_by_version": [slow.model_dump(mode="json")], "prior": prior.model_dump(mode="json"),
               "rejected_fields": [{"field": "state", "problem": "null", "count": 3}],
               "null_share": {"state": 0.0, "total_day_minutes": 0.02}}
    deploy = gather_deploys(_ctx(_status(champion="1", canary="2", canary_weight=1.0, updated_at=T0 + 60),
                                 [_version("2", T0 + 30)]), "churn", T0)
    s = signals_from("churn", T0, T0 + 60, json.loads(json.dumps(monitor)), json.loads(json.dumps(deploy)))
    assert s.release is not None and (s.release.version, s.release.how) == ("2", "canary")
    assert s.slo_by_version == [slow] and s.prior == prior
    assert s.rejected_fields == [RejectedField(field="state", problem="null", count=3)]
    assert s.null_share == {"state": 0.0, "total_day_minutes": 0.02}
    assert [v.version for v in s.recent_versions] == ["2"]
    assert s.notes == ["rejected fields: state (null) ×3"]
    d = diagnose(s)
    assert (d.category, d.culprit, d.action) == ("latency", ["2"], "rollback")


def test_signals_from_an_unreadable_window_is_empty_but_typed():
    s = signals_from("churn", T0, T0 + 60, {"summary": "cannot check churn: no champion", "findings": [], "n_rows": 0},
                     {"snapshot": {}, "recent": ["deployment status unavailable: x"], "versions": [], "release": None})
    assert (s.release, s.prior, s.slo_by_version, s.rejected_fields, s.null_share, s.notes) == (
        None, None, [], [], {}, [])
    assert diagnose(s).detected is False
