"""The memory on a real ChromaDB persistent store with offline embeddings."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from agent import embeddings
from agent.embeddings import embed_texts
from agent.memory import Memory
from agent.memory_index import ExactIndex
from agent.memory_rows import SNAPSHOT

REPO = Path(__file__).resolve().parents[2]


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


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """A store of 30 varied memories over three models and three kinds, and their texts by id."""
    mem = Memory(tmp_path_factory.mktemp("varied"))
    subjects = ["total_day_minutes drift", "p95 latency after a release", "nulls from the billing feed",
                "label shift in the holiday window", "threshold retuned for precision"]
    texts = {}
    for i in range(30):
        model, kind = ["churn", "fraud", "ltv"][i % 3], ["incident", "outcome", "decision"][i // 3 % 3]
        text = f"{model} v{i}: {subjects[i % 5]}; F1 {0.6 + i / 100:.2f}, {kind} noted by the on-call"
        texts[mem.record(kind, text, model=model, memory_id=f"m{i:02d}")] = (text, model, kind)
    return mem, texts


def reference(texts, query, k, model=None, kind=None):
    """Brute force: cosine of the query with every kept memory's freshly embedded text, best first."""
    ids = [mid for mid, (_, m, kd) in texts.items() if model in (None, m) and kind in (None, kd)]
    vecs = embed_texts([texts[mid][0] for mid in ids]).astype(np.float64)
    sims = vecs @ embed_texts([query])[0].astype(np.float64)
    order = sorted(range(len(ids)), key=lambda i: -sims[i])[:k]
    return [ids[i] for i in order], [float(sims[i]) for i in order]


def test_recall_ranks_the_similar_incident_first(memory):
    hits = memory.search("day-time minutes shifted and F1 dropped", k=3)
    assert hits[0].id == "inc-drift"
    assert hits[0].similarity > hits[-1].similarity
    assert hits[0].metadata["version"] == "1" and "ignored" not in hits[0].metadata


def test_filters_by_model_and_kind(memory):
    assert {h.id for h in memory.search("empty fields rejected", model="fraud")} == {"inc-nulls"}
    assert {h.kind for h in memory.search("drift", model="churn", kind="outcome")} == {"outcome"}
    assert memory.search("slow release latency", model="churn", kind="incident", k=1)[0].id == "inc-latency"
    assert memory.search("drift", model="no-such-model") == []


@pytest.mark.parametrize(("model", "kind", "k"), [(None, None, 7), ("fraud", None, 4), ("ltv", "outcome", 3),
                                                  (None, "decision", 30)])
def test_ranking_is_exact(varied, model, kind, k):
    mem, texts = varied
    query = "latency got worse after we shipped a new version"
    want_ids, want_sims = reference(texts, query, k, model, kind)
    hits = mem.search(query, k=k, model=model, kind=kind)
    assert [h.id for h in hits] == want_ids
    assert [h.similarity for h in hits] == pytest.approx(want_sims, abs=1e-5)
    assert all((h.text, h.model, h.kind) == texts[h.id] for h in hits)


def test_a_second_memory_object_sees_the_first_ones_writes(varied):
    mem, _ = varied
    other = Memory(mem.index.path)
    mid = mem.record("postmortem", "ranking model served stale embeddings for an hour", model="ranking")
    assert [h.id for h in other.search("stale embeddings", model="ranking")] == [mid]


WRITER = """
import json, sys
from pathlib import Path
from agent.embeddings import embed_texts
from agent.memory import Memory
mem = Memory(Path(sys.argv[1]))
seen = [h.id for h in mem.search("total_day_minutes drifted", k=1, model="churn", kind="incident")]
mem.record("outcome", "rolled back churn v7; latency back under budget", model="churn", memory_id="out-rewritten")
print(json.dumps({"seen": seen, "count": mem.count()}), flush=True)
sys.stdin.readline()
mem.record("incident", "fraud scores all zero after the feature store migration", model="fraud", memory_id="inc-new")
# A row stamped long ago (an import, say): no catch-up by time finds it, Chroma's count does.
mem.collection.upsert(ids=["legacy"], documents=["ltv model rolled back after a bad holiday forecast"],
                      metadatas=[{"kind": "decision", "model": "ltv", "created_at": 1000.0}],
                      embeddings=embed_texts(["ltv model rolled back after a bad holiday forecast"]))
print("written", flush=True)
"""


def test_writes_from_another_process_are_found_exactly(tmp_path):
    mem = Memory(tmp_path / "store")
    mem.record("incident", "total_day_minutes drifted by 25% on churn v3", model="churn", memory_id="inc-old")
    mem.record("outcome", "retrained churn v4 on the drifted window", model="churn", memory_id="out-rewritten")
    assert mem.search("feature store migration", k=5)  # the index is loaded before the other process writes
    texts = {"inc-old": ("total_day_minutes drifted by 25% on churn v3", "churn", "incident"),
             "out-rewritten": ("rolled back churn v7; latency back under budget", "churn", "outcome")}
    with (tmp_path / "writer.log").open("w") as log, subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path / "store")], cwd=REPO, text=True, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log) as writer:
        assert writer.stdin is not None and writer.stdout is not None
        # 1. The other process rewrote a memory: it ranks by its new text (this process's Chroma still holds
        # the old vector), and the other process found what this one wrote.
        assert json.loads(writer.stdout.readline()) == {"seen": ["inc-old"], "count": 2}
        for query in ("latency back under budget", "retrained on the drifted window"):
            hits = mem.search(query, k=2)
            want_ids, want_sims = reference(texts, query, 2)
            assert [h.id for h in hits] == want_ids
            assert [h.similarity for h in hits] == pytest.approx(want_sims, abs=1e-5)
        assert mem.search("anything", kind="outcome")[0].text == texts["out-rewritten"][0]
        # 2. The other process added memories this process's Chroma cannot return vectors for.
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "written"
    assert writer.returncode == 0, (tmp_path / "writer.log").read_text()
    hits = mem.search("fraud scores zero after migrating the feature store", k=1, model="fraud")
    assert [(h.id, h.kind) for h in hits] == [("inc-new", "incident")]
    texts["inc-new"] = ("fraud scores all zero after the feature store migration", "fraud", "incident")
    texts["legacy"] = ("ltv model rolled back after a bad holiday forecast", "ltv", "decision")
    for query in ("feature store", "holiday forecast went wrong"):
        hits = mem.search(query, k=4)
        want_ids, want_sims = reference(texts, query, 4)
        assert [h.id for h in hits] == want_ids
        assert [h.similarity for h in hits] == pytest.approx(want_sims, abs=1e-5)
    assert mem.index.last_counts["embedded"] == 1  # only the row this process's Chroma lacks
    # An index trusting this process's Chroma for every row halves its reads until it finds the two rows it lacks.
    (mem.index.path / SNAPSHOT).unlink()
    trusting = ExactIndex(mem.index.path)
    trusting.opened_at = time.time() + 1e6
    trusting.sync(mem.collection)
    assert trusting.last_counts == {"kept": 0, "read": 2, "embedded": 2} and len(trusting) == 4


def test_index_loads_from_its_snapshot_and_notices_deletions(varied):
    mem, texts = varied
    assert mem.search("drift", k=1)
    assert (mem.index.path / SNAPSHOT).exists()
    fresh = ExactIndex(mem.index.path)  # as a new process would: the snapshot, checked against Chroma
    fresh.sync(mem.collection)
    assert fresh.load_source.startswith("snapshot") and len(fresh) == mem.count()
    query = embed_texts(["threshold retuned"])[0]
    got, want = fresh.top(query, 5, None, None), mem.index.top(query, 5, None, None)
    assert [m for m, _ in got] == [m for m, _ in want] and [s for _, s in got] == pytest.approx([s for _, s in want])
    mem.collection.delete(ids=["m04"])  # a deletion leaves no created_at to catch up by: the count tells
    fresh.sync(mem.collection)
    assert len(fresh) == mem.count() and "m04" not in {mid for mid, _ in fresh.top(query, 40, None, None)}


def test_a_load_from_chroma_in_small_pages_matches(varied, monkeypatch):
    mem, _ = varied
    monkeypatch.setattr("agent.memory_index.PAGE", 4)  # ~30 rows: several pages of metadata and of vectors
    mem.search("drift", k=1)
    (mem.index.path / SNAPSHOT).unlink()
    paged = ExactIndex(mem.index.path)
    paged.opened_at = time.time() + 1e6  # this process wrote every row: its Chroma view has them all
    paged.sync(mem.collection)
    assert paged.last_counts == {"kept": 0, "read": mem.count(), "embedded": 0} and len(paged) == mem.count()
    query = embed_texts(["label shift during the holidays"])[0]
    for model, kind in ((None, None), ("churn", None), ("fraud", "outcome")):
        got, want = paged.top(query, 40, model, kind), mem.index.top(query, 40, model, kind)
        assert [m for m, _ in got] == [m for m, _ in want] and len(got) > 0
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)


def test_a_broken_snapshot_is_ignored(tmp_path):
    mem = Memory(tmp_path)
    mem.record("decision", "approved the churn retrain", model="churn", memory_id="dec-1")
    (tmp_path / SNAPSHOT).write_bytes(b"not a snapshot")
    fresh = ExactIndex(tmp_path)
    fresh.sync(mem.collection)
    assert fresh.load_source.startswith("chroma") and len(fresh) == 1


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


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_bad_k_is_refused(memory, k):
    with pytest.raises(ValueError, match="1 or more"):
        memory.search("drift", k=k)


def test_bad_kind_or_model_is_refused(memory):
    with pytest.raises(ValueError, match="kind must be one of"):
        memory.search("drift", kind="incidents")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind must be one of"):
        memory.record("note", "a note", model="churn")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model"):
        memory.record("incident", "drift", model=" ")


def test_queries_embed_on_one_thread_without_changing_the_callers():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # the suite runs with one (tests/conftest.py): a caller that asked for two keeps two
    try:
        vecs = embed_texts(["a query", "another"])
        assert vecs.shape == (2, embeddings.DIMENSIONS)
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        assert embeddings._worker is not None and embeddings._worker.submit(torch.get_num_threads).result() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
