"""The approvals inbox on a real SQLite file and a real PostgreSQL (``db_target``): lifecycle, refusals, edits,
expiry, prefixes, persistence, two answers at once."""

from __future__ import annotations

import threading

import pytest

from agent.approvals import ApprovalError, ApprovalStore
from agent.proposals import FixDataProposal, RetrainProposal, apply_edit


class Clock:
    def __init__(self, now: float = 1_000.0):
        self.now = now

    def __call__(self) -> float:
        self.now += 1.0  # every reading later than the last, so "newest first" is well defined
        return self.now


def retrain(pid: str, *, model: str = "churn", expires_at: float = 10_000.0) -> RetrainProposal:
    return RetrainProposal(id=pid, model=model, title=f"Retrain {model}", rationale="F1 fell after drift",
                           champion_version="1", expires_at=expires_at, brain="offline policy",
                           window_since=0.0, window_until=100.0)


@pytest.fixture
def store(db_target):
    return ApprovalStore(db_target("approvals.db"), clock=Clock())


def test_add_files_a_pending_proposal_and_audits_it(store):
    rec = store.add(retrain("prop-aaa"), thread_id="thread-1", source="scheduler", actor="opsagent")
    assert (rec.status, rec.thread_id, rec.source, rec.decision) == ("pending", "thread-1", "scheduler", None)
    assert isinstance(store.get("prop-aaa").proposal, RetrainProposal)
    [entry] = store.audit.entries("prop-aaa")
    assert (entry.event, entry.actor, entry.via) == ("proposed", "opsagent", "scheduler")
    assert entry.detail["kind"] == "retrain" and entry.detail["title"] == "Retrain churn"
    with pytest.raises(ApprovalError, match="already in the inbox"):
        store.add(retrain("prop-aaa"), thread_id=None, source="cli", actor="opsagent")


def test_lifecycle_records_decision_outcome_and_every_step(store):
    store.add(retrain("prop-aaa"), thread_id="t", source="scheduler", actor="opsagent")
    rec = store.set_status("prop-aaa", "accepted", actor="alice", via="slack")
    assert (rec.decided_by, rec.decided_via, rec.decision) == ("alice", "slack", "accept")
    store.set_status("prop-aaa", "executing", actor="opsagent", via="slack")
    done = store.set_status("prop-aaa", "executed", actor="opsagent", via="slack", outcome="promoted v2",
                            detail={"version": "2"})
    store.note("prop-aaa", "verified", actor="opsagent", via="slack", detail={"f1": 0.8})
    assert done.status == "executed" and done.outcome == "promoted v2"
    assert done.decided_by == "alice" and done.updated_at > done.created_at

    history = store.history("prop-aaa")
    assert [e.event for e in history] == ["proposed", "accepted", "executing", "executed", "verified"]
    assert history[3].detail == {"from": "executing", "to": "executed", "outcome": "promoted v2", "version": "2"}


@pytest.mark.parametrize(("path", "target", "message"), [
    ([], "executing", "pending and cannot become executing"),
    (["accepted"], "rejected", "already accepted; only a pending proposal can be answered"),
    (["rejected"], "accepted", "already rejected"),
    (["accepted", "executing"], "refused", "executing and cannot become refused"),
    (["accepted", "executing", "failed"], "executing", "failed and cannot become executing; .* nothing"),
])
def test_transitions_outside_the_lifecycle_are_refused(store, path, target, message):
    store.add(retrain("prop-aaa"), thread_id=None, source="cli", actor="bob")
    for status in path:
        store.set_status("prop-aaa", status, actor="bob", via="cli")
    before = store.get("prop-aaa")
    with pytest.raises(ApprovalError, match=message):
        store.set_status("prop-aaa", target, actor="bob", via="cli")
    assert store.get("prop-aaa") == before
    assert len(store.history("prop-aaa")) == 1 + len(path)  # the refusal changed nothing, audited nothing


def test_refused_and_rejected_paths(store):
    store.add(retrain("prop-aaa"), thread_id=None, source="cli", actor="bob")
    store.add(retrain("prop-bbb"), thread_id=None, source="cli", actor="bob")
    store.set_status("prop-aaa", "accepted", actor="bob", via="cli")
    refused = store.set_status("prop-aaa", "refused", actor="opsagent", via="cli", outcome="champion changed")
    assert refused.status == "refused" and refused.decided_by == "bob"  # refusal keeps the human's decision
    ignored = store.set_status("prop-bbb", "rejected", actor="carol", via="web", event="ignored")
    assert (ignored.decision, store.history("prop-bbb")[-1].event) == ("ignore", "ignored")
    store.add(retrain("prop-ccc"), thread_id=None, source="cli", actor="bob")
    assert store.set_status("prop-ccc", "accepted", actor="erin", via="slack",
                            event="edited-accepted").decision == "edit"


def test_edit_is_audited_and_makes_the_decision_an_edit(store):
    original = retrain("prop-aaa")
    store.add(original, thread_id=None, source="chat", actor="opsagent")
    edited = apply_edit(original, {"epochs": 10, "canary_weight": 0.2})
    rec = store.update_proposal("prop-aaa", edited, actor="dana", via="web", changes={"epochs": 10,
                                                                                       "canary_weight": 0.2})
    assert isinstance(rec.proposal, RetrainProposal) and rec.proposal.epochs == 10
    assert store.history("prop-aaa")[-1].detail == {"changes": {"epochs": 10, "canary_weight": 0.2}}
    assert store.set_status("prop-aaa", "accepted", actor="dana", via="web").decision == "edit"
    with pytest.raises(ApprovalError, match="accepted; only a pending proposal can be edited"):
        store.update_proposal("prop-aaa", edited, actor="dana", via="web", changes={"epochs": 10})
    with pytest.raises(ApprovalError, match="has id prop-other"):
        store.update_proposal("prop-aaa", retrain("prop-other"), actor="dana", via="web", changes={})


def test_expire_due_expires_only_overdue_pending_proposals(store):
    store.add(retrain("prop-old", expires_at=2_000.0), thread_id=None, source="cli", actor="opsagent")
    store.add(retrain("prop-new", expires_at=5_000.0), thread_id=None, source="cli", actor="opsagent")
    store.add(retrain("prop-done", expires_at=2_000.0), thread_id=None, source="cli", actor="opsagent")
    store.set_status("prop-done", "accepted", actor="alice", via="cli")

    assert store.expire_due(now=1_999.0) == []
    assert store.expire_due(now=2_000.0) == ["prop-old"]
    assert store.expire_due(now=2_500.0) == []  # already expired, not twice
    assert [r.id for r in store.pending()] == ["prop-new"]
    assert store.get("prop-done").status == "accepted"
    last = store.history("prop-old")[-1]
    assert (last.event, last.actor, store.get("prop-old").status) == ("expired", "opsagent", "expired")
    with pytest.raises(ApprovalError, match="already expired"):
        store.set_status("prop-old", "accepted", actor="alice", via="cli")


def test_prefix_lookup_unique_ambiguous_and_unknown(store):
    store.add(retrain("prop-abc123"), thread_id=None, source="cli", actor="a")
    store.add(retrain("prop-abd456"), thread_id=None, source="cli", actor="a")
    assert store.get("prop-abc").id == "prop-abc123"
    assert store.set_status("prop-abd", "accepted", actor="a", via="cli").id == "prop-abd456"
    with pytest.raises(ApprovalError, match="matches several proposals .*prop-abc123, prop-abd456"):
        store.get("prop-ab")
    with pytest.raises(ApprovalError, match="no proposal 'prop-zzz'; list proposal ids with `opsagent approvals"):
        store.get("prop-zzz")
    with pytest.raises(ApprovalError, match="no proposal"):
        store.get("prop-ab_")  # LIKE wildcards in the input are taken literally
    with pytest.raises(ApprovalError, match="give a proposal id"):
        store.get("  ")


def test_list_newest_first_with_filters(store):
    store.add(retrain("prop-1"), thread_id=None, source="cli", actor="a")
    store.add(retrain("prop-2", model="fraud"), thread_id=None, source="cli", actor="a")
    fix = FixDataProposal(id="prop-3", model="churn", title="Fix feed", rationale="nulls", champion_version=None,
                          expires_at=10_000.0, brain="offline policy", features=["total_eve_charge"], problem="nulls")
    store.add(fix, thread_id=None, source="cli", actor="a")
    store.set_status("prop-1", "rejected", actor="a", via="cli")
    assert [r.id for r in store.list()] == ["prop-3", "prop-2", "prop-1"]
    assert [r.id for r in store.list(model="churn")] == ["prop-3", "prop-1"]
    assert [r.id for r in store.list(status="rejected")] == ["prop-1"]
    assert [r.id for r in store.pending(model="churn")] == ["prop-3"]
    assert isinstance(store.get("prop-3").proposal, FixDataProposal)


def test_list_since_keeps_what_was_created_or_changed_since_and_limit_the_newest(store):
    for pid in ("prop-1", "prop-2", "prop-3", "prop-4"):  # created at 1001..1004 (the clock ticks one a reading)
        store.add(retrain(pid), thread_id=None, source="cli", actor="a")
    store.set_status("prop-1", "rejected", actor="a", via="cli")  # prop-1 changed at 1005
    since = store.get("prop-3").created_at
    assert [r.id for r in store.list(since=since)] == ["prop-4", "prop-3", "prop-1"]
    assert [r.id for r in store.list(since=since, limit=2)] == ["prop-4", "prop-3"]
    assert [r.id for r in store.list(model="churn", limit=1)] == ["prop-4"]
    assert store.list(since=store.get("prop-1").updated_at + 1) == []


def test_two_store_objects_on_one_file_see_each_other(db_target):
    path = db_target("approvals.db")
    first, second = ApprovalStore(path), ApprovalStore(path)
    first.add(retrain("prop-aaa"), thread_id="t", source="cli", actor="a")
    second.set_status("prop-aaa", "accepted", actor="b", via="web")
    assert first.get("prop-aaa").status == "accepted"
    first.close()
    second.close()
    reopened = ApprovalStore(path)
    assert reopened.get("prop-aaa").decided_by == "b"
    assert [e.event for e in reopened.history("prop-aaa")] == ["proposed", "accepted"]


def test_concurrent_writers_on_two_connections_lose_nothing(db_target):
    path = db_target("approvals.db")
    stores = [ApprovalStore(path), ApprovalStore(path)]
    n = 40

    def file_and_accept(store: ApprovalStore, tag: str) -> None:
        for i in range(n):
            store.add(retrain(f"prop-{tag}{i:03d}"), thread_id=None, source="test", actor=tag)
            store.set_status(f"prop-{tag}{i:03d}", "accepted", actor=tag, via="test")

    threads = [threading.Thread(target=file_and_accept, args=(s, tag)) for s, tag in zip(stores, "xy", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    check = ApprovalStore(path)
    assert len(check.list(status="accepted")) == 2 * n
    assert len(check.audit.entries()) == 4 * n


def test_of_two_stores_accepting_one_proposal_at_once_exactly_one_wins_and_holds_its_lease(db_target):
    """Two `opsagent serve` processes answering the same proposal: the row lock (FOR UPDATE on PostgreSQL, the
    write lock on SQLite) lets one move it and claim its lease; the other is told it is no longer pending."""
    path = db_target("approvals.db")
    stores = [ApprovalStore(path), ApprovalStore(path)]
    n = 15
    for i in range(n):
        stores[0].add(retrain(f"prop-race{i:02d}"), thread_id=None, source="test", actor="t")
    wins: dict[str, list[str]] = {"a": [], "b": []}
    refusals: list[str] = []
    start = threading.Barrier(2)

    def accept_all(store: ApprovalStore, owner: str) -> None:
        start.wait()
        for i in range(n):
            try:
                store.set_status(f"prop-race{i:02d}", "accepted", actor=owner, via="test",
                                 lease_owner=f"host-{owner}:1:1")
                wins[owner].append(f"prop-race{i:02d}")
            except ApprovalError as exc:
                refusals.append(str(exc))

    threads = [threading.Thread(target=accept_all, args=(s, o)) for s, o in zip(stores, "ab", strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins["a"] + wins["b"]) == [f"prop-race{i:02d}" for i in range(n)]  # each once, none twice
    assert len(refusals) == n and all("already accepted" in r for r in refusals)
    for owner, pids in wins.items():
        for pid in pids:
            lease = stores[0].leases.get(pid)
            assert lease is not None and (lease.owner, lease.claims) == (f"host-{owner}:1:1", 1)
            assert [e.event for e in stores[0].history(pid)] == ["proposed", "accepted"]


def test_counts_per_model_kind_and_status(store):
    store.add(retrain("prop-1"), thread_id=None, source="test", actor="t")
    store.add(retrain("prop-2", model="credit"), thread_id=None, source="test", actor="t")
    store.set_status("prop-2", "rejected", actor="t", via="test")
    assert store.counts() == {("churn", "retrain", "pending"): 1, ("credit", "retrain", "rejected"): 1}
