"""The memory on a real ChromaDB persistent store with offline embeddings."""

from __future__ import annotations

import pytest

from agent.memory import Memory


@pytest.fixture(scope="module")
def memory(tmp_path_factory):
    mem = Memory(tmp_path_factory.mktemp("memory"))
    mem.record("incident", "total_day_minutes drifted by 25%; realised F1 fell from 0.84 to 0.71", model="churn",
               memory_id="inc-drift", metadata={"version": "1", "ignored": [1, 2]})
    mem.record("incident", "p95 latency 420 ms after release v5; rolled back to v4", model="churn",
               memory_id="inc-latency")
    mem.record("outcome", "retrained v2 on the drifted window; promoted after canary", model="churn",
               memory_id="out-drift")
    mem.record("incident", "billing feed sent empty evening charges; 90% of requests rejected", model="fraud",
               memory_id="inc-nulls")
    return mem


def test_recall_ranks_the_similar_incident_first(memory):
    hits = memory.search("day-time minutes shifted and F1 dropped", k=3)
    assert hits[0].id == "inc-drift"
    assert hits[0].similarity > hits[-1].similarity
    assert hits[0].metadata["version"] == "1" and "ignored" not in hits[0].metadata


def test_filters_by_model_and_kind(memory):
    assert {h.id for h in memory.search("empty fields rejected", model="fraud")} == {"inc-nulls"}
    assert {h.kind for h in memory.search("drift", model="churn", kind="outcome")} == {"outcome"}
    assert memory.search("slow release latency", model="churn", kind="incident", k=1)[0].id == "inc-latency"


def test_store_persists_across_clients(memory, tmp_path):
    first = Memory(tmp_path)
    first.record("decision", "approved retrain of churn", model="churn", memory_id="dec-1")
    again = Memory(tmp_path)
    assert again.count() == 1 and again.search("retrain approval")[0].id == "dec-1"


def test_empty_query_and_empty_text(memory, tmp_path):
    assert memory.search("   ") == []
    assert Memory(tmp_path / "empty").search("anything") == []
    with pytest.raises(ValueError, match="text"):
        memory.record("incident", "  ", model="churn")
