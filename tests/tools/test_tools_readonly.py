"""Every LLM-callable tool on a real home (MLflow on SQLite, a prediction log with drifted traffic, ChromaDB
memory, a deployment with a canary): what each returns, and proof that none of them changes anything."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import pytest
from tool_test_support import tavily_stub, write_traffic

from agent.context import OpsContext
from agent.memory import Memory
from agent.settings import Settings
from ml_core.paths import HomeLayout
from ml_core.registry import Registry
from ml_core.release import register_model_bundle
from ml_core.serving.state import DeploymentState, state_path, write_state
from tools.catalog import call_tool, tool_specs
from tools.web_tools import BASE_URL_ENV

ARGS = {
    "list_models": {}, "model_status": {"model": "churn"}, "drift_report": {"model": "churn"},
    "performance": {"model": "churn", "window_minutes": 60}, "slo_status": {"model": "churn"},
    "compare_versions": {"model": "churn", "version_a": "champion", "version_b": "v2"},
    "training_run": {"model": "churn", "version": "1"}, "recent_deploys": {"model": "churn", "limit": 5},
    "feature_importance": {"model": "churn", "version": "v2"},
    "recall_incidents": {"query": "total_day_minutes drifted and F1 fell", "model": "churn"},
    "web_search": {"query": "evidently wasserstein drift threshold"},
    "propose_retrain": {"model": "churn", "reason": "total_day_minutes drifted; realised F1 fell"},
    "propose_rollback": {"model": "churn", "reason": "canary v2 is slow and failing"},
    "propose_promote": {"model": "churn", "reason": "the canary looks healthy"},
    "propose_threshold": {"model": "churn", "reason": "the positive rate moved"},
}


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def snapshot(layout: HomeLayout, registry: Registry) -> dict:
    """Registry versions/aliases/tags and runs, routing, approvals, prediction log and memory contents."""
    versions = [(v.version, v.aliases, sorted(v.tags.items())) for v in registry.versions("churn")]
    runs = len(registry.client.search_runs([registry.experiment_id()]))
    con = sqlite3.connect(f"file:{layout.predictions_db('churn')}?mode=ro", uri=True)
    try:
        log = {t: hashlib.sha256(repr(con.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()).encode())
               .hexdigest() for t in ("predictions", "labels", "rejections")}
    finally:
        con.close()
    return {"models": registry.models(), "versions": versions, "runs": runs,
            "aliases": registry.client.get_registered_model("churn").aliases,
            "routing": _digest(state_path(layout, "churn")), "approvals": _digest(layout.approvals_db),
            "log": log, "memory": Memory(layout.memory_dir).count()}


@pytest.fixture(scope="module")
def home(champion_home, churn_df):
    """v1 champion serving with v2 (a registered copy) as a 10 % canary — never started — and drifted traffic."""
    layout, registry, job = champion_home
    model = registry.load("churn", job.version)
    v2 = register_model_bundle(registry, "churn", model, tags={"parent_version": job.version, "test_f1": "0.8000",
                                                                "test_auc": "0.9000", "scenario": "slow_release"})
    write_state(state_path(layout, "churn"), DeploymentState(model="churn", champion=job.version, canary=v2.version,
                                                             canary_weight=0.1))
    now = time.time() + 5
    ids = write_traffic(layout, registry, churn_df, version=job.version, now=now, canary=v2.version)
    memory = Memory(layout.memory_dir)
    memory.record("incident", "churn v1: total_day_minutes drifted (wasserstein 1.6); realised F1 fell to 0.70",
                  model="churn", memory_id="incident-past1")
    memory.record("postmortem", "p95 latency 420 ms after release v5; rolled back to v4", model="churn",
                  memory_id="postmortem-latency")
    return layout, registry, now, ids


@pytest.fixture(scope="module")
def observed(home):
    """Call every tool once (proposal tools with and without a filing hook); snapshot before and after."""
    layout, registry, now, _ = home
    filed: list = []
    with tavily_stub() as stub, pytest.MonkeyPatch.context() as mp:
        mp.setenv(BASE_URL_ENV, stub.base_url)
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        settings = Settings(home=layout.home, tavily_api_key="tvly-test", slo_p95_latency_ms=100.0)
        ctx = OpsContext(settings, clock=lambda: now)
        before = snapshot(layout, registry)
        specs = tool_specs(settings)
        assert {s.name for s in specs} == set(ARGS)  # a new tool must be added here, and so checked
        out = {name: call_tool(ctx, name, args) for name, args in ARGS.items()}
        hooked = OpsContext(settings, clock=lambda: now,
                            file_proposal=lambda p: filed.append(p) or f"filed {p.id} for approval")
        out |= {f"{name}+hook": call_tool(hooked, name, args) for name, args in ARGS.items()
                if name.startswith("propose_")}
        after = snapshot(layout, registry)
    return {"out": out, "json": {k: json.loads(v) for k, v in out.items()}, "before": before, "after": after,
            "filed": filed, "specs": specs}


def test_no_tool_changes_anything(observed):
    assert observed["after"] == observed["before"]
    assert {s.kind for s in observed["specs"]} == {"read", "propose"}  # nothing else exists to declare
    got = observed["json"]
    assert not [k for k, v in got.items() if "error" in v], "every call had valid arguments and data"
    assert [p.kind for p in observed["filed"]] == ["retrain", "rollback", "promote", "retune_threshold"]
    for name in ("propose_retrain", "propose_rollback", "propose_promote", "propose_threshold"):
        assert got[name]["filed"] is False and got[name]["message"].startswith("not filed")
        hooked = got[f"{name}+hook"]
        assert hooked["filed"] is True and hooked["message"] == f"filed {hooked['proposal_id']} for approval"


def test_results_are_bounded_and_carry_no_customer_rows(observed, home):
    ids = home[3]
    for name, text in observed["out"].items():
        assert len(text) <= 4000, name
        assert not any(f'"{rid}"' in text for rid in ids[:50]), f"{name} leaked a record id"
        assert "international_plan" not in text or name in ("training_run", "feature_importance"), name


def test_drift_report_names_the_shifted_feature_and_its_files(observed):
    d = observed["json"]["drift_report"]
    assert d["n_rows"] == 460 and d["n_features_checked"] == 19 and d["champion"] == "1"
    top = next(f for f in d["drifted"] if f["feature"] == "total_day_minutes")
    assert top["statistic"] > top["threshold"] and top["p_value"] < 0.01 and top["test"]
    assert Path(d["report_html"]).exists() and Path(d["report_dir"]).is_dir()
    assert any(p.endswith("total_day_minutes.png") and Path(p).exists() for p in d["plots"])


def test_performance_has_realised_estimated_and_reference(observed, home):
    p = observed["json"]["performance"]
    registry = home[1]
    assert p["n_labelled"] == 300 and p["n_rows"] == 460
    assert set(p["realised"]) == {"f1", "auc", "precision", "recall"} and 0 < p["realised"]["auc"] <= 1
    assert p["estimated"]["f1"] > 0 and p["prior"]["predicted_positive_rate"] is not None
    assert p["reference"]["f1"] == pytest.approx(float(registry.version("churn", "1").tags["test_f1"]), abs=1e-4)


def test_slo_status_blames_the_slow_failing_canary(observed):
    s = observed["json"]["slo_status"]
    v2 = next(v for v in s["versions"] if v["version"] == "2")
    assert v2["latency_breached"] and v2["error_rate_breached"] and v2["error_rate"] == pytest.approx(0.25)
    assert not next(v for v in s["versions"] if v["version"] == "1")["latency_breached"]
    assert s["n_rejected"] == 5 and s["p95_budget_ms"] == 100.0 and any("v2 p95" in b for b in s["breaches"])


def test_registry_tools(observed):
    got = observed["json"]
    (churn,) = got["list_models"]["models"]
    assert churn["champion"] == "1" and churn["n_versions"] == 2 and churn["latest"][0]["version"] == "2"
    dep = got["model_status"]["deployment"]
    assert dep["canary"] == "2" and dep["canary_weight"] == 0.1 and dep["running"] is False
    cmp_ = got["compare_versions"]
    assert cmp_["a"]["version"] == "1" and cmp_["b"]["parent_version"] == "1" and "note" not in cmp_
    assert cmp_["delta"]["f1"] == pytest.approx(0.8 - cmp_["a"]["test_metrics"]["f1"], abs=1e-4)
    run = got["training_run"]
    assert run["duration_seconds"] > 0 and run["params"]["epochs"] == "6" and "test_f1" in run["metrics"]
    history = got["recent_deploys"]
    assert [v["version"] for v in history["versions"]] == ["2", "1"]
    assert history["versions"][0]["tags"]["scenario"] == "slow_release" and history["canary"] == "2"


def test_feature_importance_is_the_parents_for_a_copy_and_bounded(observed):
    imp = observed["json"]["feature_importance"]
    assert imp["version"] == "2" and imp["measured_on_version"] == "1"  # v2 is a registered copy of v1
    assert imp["metric"] == "auc" and imp["rows_from"] == "test split" and imp["n_rows"] == 1000
    features = imp["features"]
    assert len(features) == 15 and imp["more_features"] == 4  # churn has 19 columns; the tail is summed up
    assert [f["rank"] for f in features] == list(range(1, 16))
    assert features[0]["share"] >= features[-1]["share"] and features[0]["drop"] > 0.01
    assert sum(f["share"] for f in features) + imp["share_left_out"] == pytest.approx(1.0, abs=0.01)


def test_recall_and_web_search(observed):
    hits = observed["json"]["recall_incidents"]["hits"]
    assert hits[0]["id"] == "incident-past1" and hits[0]["similarity"] > hits[-1]["similarity"]
    assert len(observed["json"]["web_search"]["results"]) == 3


def test_proposal_drafts_are_costed_and_preconditioned(observed):
    retrain, rollback, promote, threshold = observed["filed"]
    assert retrain.champion_version == "1" and retrain.estimated_train_seconds > 0 and retrain.gate_metric == "f1"
    assert (rollback.bad_version, rollback.target_version) == ("2", "1") and promote.version == "2"
    assert threshold.version == "1" and 0 < threshold.proposed_threshold < 1
    assert all(p.brain == "offline policy" for p in observed["filed"])
