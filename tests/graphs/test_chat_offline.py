"""Offline chat as a person uses it: questions answered in sentences carrying the tools' own figures, and action
requests filed as exactly one pending proposal, executing nothing.

The home: churn v1 (champion) and a copy v2 deployed as a 10 % canary (routing recorded, no process started),
and a logged window whose `total_day_minutes` moved up by 60 minutes, with its labels delivered.
"""

from __future__ import annotations

import time

import pytest
from world import make_ctx

from graphs.chat_offline import offline_reply
from graphs.chat_requests import parse_request
from graphs.runner import GraphRunner
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.predlog import PredictionRow
from ml_core.registry import Registry
from ml_core.serving.state import DeploymentState, read_state, state_path, write_state
from tools.monitoring_tools import slo_status
from tools.results import DriftReport, PerformanceReport

SHIFT_MINUTES = 60.0  # +60 day minutes on a feature whose mean is ~180: far beyond any drift test's threshold


def _log_window(ctx, registry, pool, now: float) -> None:
    model = registry.load("churn", "1")
    feats = pool[CHURN_SCHEMA.feature_names]
    scores = model.predict_proba(feats)
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
               for r in feats.to_dict(orient="records")]
    ids = pool["customer_id"].astype(str).tolist()
    # Every tenth request goes to the canary v2, as a 10 % split would send it.
    rows = [PredictionRow(f"q{i}", ids[i], now - 1200 + i, "churn", "2" if i % 10 == 0 else "1",
                          "canary" if i % 10 == 0 else "champion", None, None, float(s), int(s >= model.threshold),
                          20.0 + i % 7, records[i]) for i, s in enumerate(scores)]
    actual = CHURN_SCHEMA.labels_to_int(pool[CHURN_SCHEMA.label]).tolist()
    with ctx.prediction_log("churn") as log:
        log.write_predictions(rows)
        log.write_labels(zip(ids, actual, strict=True), ts=now - 60)


@pytest.fixture(scope="module")
def home(tmp_path_factory, churn_df):
    from tests.conftest import make_champion_home

    layout, registry, _job = make_champion_home(tmp_path_factory.mktemp("chat-offline"), churn_df, epochs=1)
    v1 = registry.client.get_model_version("churn", "1")
    registry.register("churn", v1.source, {**v1.tags, "parent_version": "1"})  # v2: the same weights, a release
    write_state(state_path(layout, "churn"), DeploymentState(model="churn", champion="1", canary="2",
                                                             canary_weight=0.1, updated_at=time.time() - 900))
    pool = split_frame(churn_df, CHURN_SCHEMA).test.head(400).reset_index(drop=True)
    pool["total_day_minutes"] = pool["total_day_minutes"] + SHIFT_MINUTES
    ctx = make_ctx(layout)
    _log_window(ctx, registry, pool, time.time())
    return layout


@pytest.fixture(scope="module")
def why(home):
    """The answer to the question the issue starts from (drift reports take seconds: asked once)."""
    return offline_reply(make_ctx(home), "why did churn F1 drop?")


@pytest.fixture(scope="module")
def facts(home, why):
    """The tools' typed results over the triage window: the figures the sentences must carry."""
    results = {c.name: c.result for c in why.calls}
    return {"performance": PerformanceReport.model_validate_json(results["performance"]),
            "drift": DriftReport.model_validate_json(results["drift_report"]),
            "slo": slo_status(make_ctx(home), "churn", 60)}


def _perf(f) -> list[str]:
    p = f["performance"]
    return [f"F1 fell from {p.reference['f1']:.3f} (v1's test set) to {p.realised['f1']:.3f}",
            f"over {p.n_labelled:,} labelled predictions of the last hour"]


def _drift(f) -> list[str]:
    d = f["drift"]
    return ["`total_day_minutes` (", f"drifted over {d.n_rows:,} predictions of the last hour",
            f"of {d.n_features_checked} features checked"]


def _canary(f) -> list[str]:
    v2 = next(v for v in f["slo"].versions if v.version == "2")
    return ["v2 is a canary on 10% of traffic beside champion v1",
            f"v2 answered {v2.n:,} requests: p95 {v2.p95_ms:.0f} ms (budget 250 ms)", "within its SLOs",
            "The service is not running"]


def test_why_did_f1_drop_reads_like_a_colleague(why, facts):
    for piece in [*_perf(facts), *_drift(facts), "v2 is a canary on 10% of traffic beside champion v1"]:
        assert piece in why.text, (piece, why.text)
    assert "- realised:" not in why.text and "n_labelled" not in why.text  # no raw result tree
    # The raw results stay with the answer: the chat graph keeps them as tool messages (--verbose, the web page).
    assert [c.name for c in why.calls] == ["performance", "drift_report", "model_status"]
    assert '"n_labelled":400' in why.calls[0].result and '"feature":"total_day_minutes"' in why.calls[1].result


QUESTIONS = [
    ("how is churn performance over the last hour?", _perf),
    ("is the canary healthy?", _canary),
    ("status of churn", lambda f: ["churn: v2 is a canary on 10% of traffic beside champion v1",
                                   "(routing last changed at"]),
    ("which models are registered?", lambda f: ["churn has 2 versions (champion v1)"]),
    ("compare 1 and 2", lambda f: ["churn v2 against v1: AUC", "(+0.000)", "trained on the same data"]),
    ("write me a poem", lambda f: ["I can't answer that without an LLM", "retrain MODEL on the last N minutes",
                                   "roll back MODEL", "promote the canary"]),
    ("deploy v2 of churn", lambda f: ["I can't file that offline", "`opsagent deploy`"]),
    ("retrain fraud on the last hour", lambda f: ["I know no model called 'fraud'", "registered models: churn"]),
]


@pytest.mark.parametrize("question,expected", QUESTIONS, ids=[q for q, _ in QUESTIONS])
def test_questions_are_answered_in_sentences_with_the_tools_figures(home, facts, question, expected):
    reply = offline_reply(make_ctx(home), question)
    for piece in expected(facts):
        assert piece in reply.text, (piece, reply.text)
    assert "- realised:" not in reply.text and "n_labelled" not in reply.text  # no raw result tree
    assert "no LLM configured" in reply.text


REQUESTS = [
    ("retrain churn on the last 30 minutes", "retrain", 30 * 60),
    ("please roll back churn", "rollback", None),
    ("promote the canary", "promote", None),
]


@pytest.mark.parametrize("text,kind,window_s", REQUESTS, ids=[r[1] for r in REQUESTS])
def test_a_request_files_one_pending_proposal_and_executes_nothing(home, text, kind, window_s):
    ctx = make_ctx(home, actor="alice")
    before = {r.id for r in ctx.approvals.pending()}
    routing = read_state(state_path(home, "churn"), "churn")
    with GraphRunner(ctx) as runner:
        answer, brain = runner.chat(text, thread_id=f"t-{kind}")
        new = [r for r in ctx.approvals.pending() if r.id not in before]
        assert len(new) == 1 and new[0].proposal.kind == kind, new
        assert runner.pending_request(new[0].id) is not None  # paused on interrupt(), waiting for a person
    p = new[0].proposal
    assert f"Filed proposal {p.id}" in answer and f"opsagent approvals approve {p.id}" in answer
    assert brain == "offline policy" and "alice" in p.evidence[0].detail
    if window_s is not None:
        assert p.window_until - p.window_since == pytest.approx(window_s)  # type: ignore[attr-defined]
    if kind == "rollback":
        assert (p.bad_version, p.target_version) == ("2", "1")  # type: ignore[attr-defined]
    if kind == "promote":
        assert p.version == "2"  # type: ignore[attr-defined]
    after = read_state(state_path(home, "churn"), "churn")
    assert (after.champion, after.canary, after.canary_weight) == (routing.champion, routing.canary, 0.1)
    assert [v.version for v in Registry(home).versions("churn")] == ["1", "2"]
    assert Registry(home).alias("churn", "champion").version == "1"


def test_asking_again_points_at_the_pending_proposal_instead_of_filing_another(home):
    ctx = make_ctx(home)
    with GraphRunner(ctx) as runner:
        runner.chat("retrain churn on the last 2 hours", thread_id="t-again")
        count = len(ctx.approvals.pending())
        answer, _ = runner.chat("retrain churn on the last 2 hours", thread_id="t-again")
    pid = next(r.id for r in ctx.approvals.pending() if r.proposal.kind == "retrain")
    assert len(ctx.approvals.pending()) == count and f"already waiting for approval ({pid})" in answer


PARSED = [
    ("retrain churn on the last 30 minutes", ("retrain", "churn", 30.0, None)),
    ("Could you retrain churn over the past 2 days?", ("retrain", "churn", 2880.0, None)),
    ("retrain on the last hour", ("retrain", None, 60.0, None)),
    ("rollback churn", ("rollback", "churn", None, None)),
    ("revert churn", ("rollback", "churn", None, None)),
    ("promote the canary of churn", ("promote", "churn", None, None)),
    ("retrain fraud", ("retrain", None, None, "fraud")),
    ("why did we roll back churn?", None),
    ("should we retrain churn?", None),
    ("how long would a retrain take?", None),
]


@pytest.mark.parametrize("text,expected", PARSED, ids=[t for t, _ in PARSED])
def test_requests_are_imperatives_and_questions_are_not(text, expected):
    req = parse_request(text, ["churn"])
    got = None if req is None else (req.kind, req.model, req.window_minutes, req.unknown)
    assert got == expected


def test_an_empty_window_says_what_to_do(home):
    reply = offline_reply(make_ctx(home), "why did churn F1 drop over the last 1 minutes?")
    assert "no predictions for 'churn' in the last 1 minutes; widen window_minutes" in reply.text
    assert [c.name for c in reply.calls] == ["performance", "model_status"]
