"""Benchmark: the memory on a Chroma server against the embedded store, on the same rows.

    chroma run --path /tmp/chroma-bench --host 127.0.0.1 --port 8000 &
    python -m evals.bench_memory_server --chroma-url http://127.0.0.1:8000 [--docs 5000] [--queries 100]

Fills a fresh embedded store and a fresh collection on the server with the same memories (the same vectors,
computed once), then runs the same queries through ``Memory.search`` on both, with no filter, a model filter
and a model+kind filter (the memories are stamped an hour old: the steady state, see ``fill``). Prints each
side's latency and whether every query's top-k ids agree (the exact index ranks both, so they must). The
server's collection is deleted afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from agent.embeddings import OfflineMiniLM
from agent.memory import COLLECTION, Memory
from evals.memory_corpus import ACTIONS, FEATURES, KINDS, MODELS, QUERY_TEMPLATES, memory_text

K = 5
BATCH = 256


def fill(stores: list[Memory], n: int, seed: int) -> None:
    rng, embed = np.random.default_rng(seed), OfflineMiniLM()
    # History, stamped an hour ago: the steady state. Rows stamped within agent.memory_index.SLACK_S are fetched
    # again by every search on a server (its catch-up window), which a store just filled would overstate.
    written = time.time() - 3600
    for start in range(0, n, BATCH):
        ids, docs, metas = [], [], []
        for _ in range(min(BATCH, n - start)):
            kind, model = str(rng.choice(KINDS)), str(rng.choice(MODELS))
            text, version = memory_text(rng, kind, model)
            ids.append(f"{kind}-{uuid.uuid4().hex[:12]}")
            docs.append(text)
            metas.append({"version": version, "kind": kind, "model": model, "created_at": written})
        vectors = embed(docs)
        for memory in stores:
            memory.collection.upsert(ids=ids, documents=docs, metadatas=metas, embeddings=vectors)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chroma-url", required=True, help="the Chroma server, e.g. http://127.0.0.1:8000")
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=100, help="queries per filter mode")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="opsagent-bench-memory-server-"))
    try:
        embedded, remote = Memory(root / "embedded"), Memory(root / "cache", url=args.chroma_url)
        if remote.count():
            raise SystemExit(f"the server's '{COLLECTION}' collection holds {remote.count()} memories: use an "
                             "empty server (this benchmark deletes its collection afterwards)")
        try:
            fill([embedded, remote], args.docs, args.seed)
            rng = np.random.default_rng(args.seed + 1)
            for memory in (embedded, remote):
                memory.search("warm up: load the index and the embedding model", k=1)
            print(f"{args.docs} memories, k={K}, {args.queries} queries per filter, Memory.search end to end")
            disagree = 0
            for mode in ("none", "model", "model+kind"):
                times: dict[str, list[float]] = {"embedded": [], "server": []}
                for _ in range(args.queries):
                    query = str(rng.choice(QUERY_TEMPLATES)).format(model=rng.choice(MODELS),
                                                                    feature=rng.choice(FEATURES),
                                                                    action=rng.choice(ACTIONS))
                    model = str(rng.choice(MODELS)) if mode != "none" else None
                    kind = str(rng.choice(KINDS)) if mode == "model+kind" else None
                    got = {}
                    for name, memory in (("embedded", embedded), ("server", remote)):
                        t0 = time.perf_counter()
                        got[name] = [h.id for h in memory.search(query, k=K, model=model, kind=kind)]  # type: ignore[arg-type]
                        times[name].append((time.perf_counter() - t0) * 1000)
                    disagree += got["embedded"] != got["server"]
                print(f"  filter {mode:10s} " + "; ".join(
                    f"{name} p50 {np.percentile(t, 50):.1f} ms, p95 {np.percentile(t, 95):.1f} ms"
                    for name, t in times.items()))
            print(f"queries whose top-{K} differ between the stores: {disagree} of {3 * args.queries}")
            return 1 if disagree else 0
        finally:
            remote.client.delete_collection(COLLECTION)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
