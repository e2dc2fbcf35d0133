"""What a new process pays for its first memory search: ``python -m evals.memory_load_probe STORE_DIR``.

Prints one JSON line: the in-process index's load time and source (``agent.memory_index``), and the time of a
filtered search once the embedding model is loaded. ``evals.bench_memory`` runs it in a fresh process, as
users meet it (``opsagent memory search``, a scheduler tick, a server's first request).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from agent.memory import Memory


def main(store: Path) -> dict[str, object]:
    """Load the index of the store at ``store`` and time it, then one filtered search."""
    memory = Memory(store)
    start = time.perf_counter()
    memory.index.sync(memory.collection)
    load = time.perf_counter() - start
    memory.search("warm up the query model", k=1)  # loads the embedding model
    start = time.perf_counter()
    memory.search("why did churn F1 drop after total_day_minutes drifted", k=5, model="churn", kind="incident")
    return {"load_s": load, "rows": len(memory.index), "source": memory.index.load_source,
            "search_s": time.perf_counter() - start}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
