"""The ML core: training, registry, deployment, serving, monitoring — no agent or LLM library in here."""

import os

# Arrow's default memory pool on Linux (mimalloc) keeps the buffers a read frees: a million-row window read,
# converted and dropped left the process ~150 MB larger (``evals/bench_window.py``). jemalloc gives them back.
# Arrow reads this once, when pyarrow is first imported (pandas imports it), so it is set here, before either;
# a pool the user chose is kept.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
