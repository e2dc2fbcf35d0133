"""Incidents in the approvals SQLite file: open, look up by prefix, update, link to proposals."""

from __future__ import annotations

import pytest

from agent.approvals import ApprovalStore
from agent.incidents import IncidentError, IncidentRecord, IncidentStore


@pytest.fixture
def path(db_target):
    return db_target("approvals.db")  # a SQLite file, or the approvals schema of a PostgreSQL database


def test_open_get_and_update(path):
    store = IncidentStore(path)
    inc = store.open("churn", window_since=100.0, window_until=200.0, category="data_drift",
                     culprit=["total_day_minutes"], action="retrain", summary="day minutes drifted", tokens_in=12)
    assert inc.id.startswith("inc-") and len(inc.id) == 12 and inc.status == "open"
    assert store.get(inc.id) == inc

    updated = store.update(inc.id, status="proposed", proposal_id="prop-1", postmortem_path="/r/pm.md",
                           cost_usd=0.01)
    assert (updated.status, updated.proposal_id, updated.culprit) == ("proposed", "prop-1", ["total_day_minutes"])
    assert updated.updated_at >= inc.updated_at
    assert store.for_proposal("prop-1") == updated == IncidentStore(path).get(inc.id)  # persisted
    assert store.for_proposal("prop-none") is None


def test_bad_updates_are_refused_with_a_reason(path):
    store = IncidentStore(path)
    inc = store.open("churn")
    with pytest.raises(IncidentError, match="status"):
        store.update(inc.id, status="solved")
    with pytest.raises(IncidentError, match="no field colour"):
        store.update(inc.id, colour="red")
    with pytest.raises(IncidentError, match="cannot change model"):
        store.update(inc.id, model="fraud")
    with pytest.raises(IncidentError, match="invalid incident"):
        store.open("churn", severity="high")
    assert store.get(inc.id) == inc


def test_prefix_lookup_and_unknown_ids(path):
    store = IncidentStore(path)
    a = store.open("churn", id="inc-aa11")
    store.open("churn", id="inc-aa22")
    assert store.get("inc-aa1") == a
    with pytest.raises(IncidentError, match="matches several incidents"):
        store.get("inc-aa")
    with pytest.raises(IncidentError, match="no incident 'inc-zz'; list incident ids with `opsagent incidents list`"):
        store.get("inc-zz")


def test_list_newest_first_per_model_with_limit(path):
    store = IncidentStore(path)
    for i, model in enumerate(["churn", "fraud", "churn", "churn"]):
        store.open(model, id=f"inc-{i}", opened_at=1_000.0 + i)
    assert [r.id for r in store.list()] == ["inc-3", "inc-2", "inc-1", "inc-0"]
    assert [r.id for r in store.list(model="churn", limit=2)] == ["inc-3", "inc-2"]
    assert all(isinstance(r, IncidentRecord) for r in store.list(model="fraud"))


def test_shares_the_file_with_the_approvals_store(path):
    approvals, incidents = ApprovalStore(path), IncidentStore(path)
    incidents.open("churn", id="inc-1", proposal_id="prop-x")
    assert approvals.list() == [] and incidents.for_proposal("prop-x") is not None


def test_counts_read_the_category_from_the_json_body_in_sql(path):
    """/metrics counts incidents per (model, category, status) in SQL: json_extract on SQLite, a JSON cast and
    json_extract_path_text on PostgreSQL."""
    store = IncidentStore(path)
    store.open("churn", category="data_drift")
    store.open("churn", category="data_drift", status="resolved")
    store.open("credit")
    assert store.counts() == {("churn", "data_drift", "open"): 1, ("churn", "data_drift", "resolved"): 1,
                              ("credit", "none", "open"): 1}
