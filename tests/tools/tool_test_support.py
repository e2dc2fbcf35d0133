"""Support for the tool tests: synthetic traffic in a real prediction log, and a real HTTP server on loopback
that answers POST /search the way Tavily's API does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pandas as pd

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.paths import HomeLayout
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.registry import Registry

RESULTS = [
    {"title": f"Result {i}: drift thresholds explained", "url": f"https://example.org/drift/{i}",
     "content": f"Snippet {i}. " + "Jensen-Shannon distance above 0.1 means drift. " * 20, "score": 0.9 - i / 10,
     "raw_content": None}
    for i in range(5)
]


def write_traffic(layout: HomeLayout, registry: Registry, data: pd.DataFrame, *, version: str, now: float,
                  n: int = 400, labels: int = 300, shift: float = 90.0, canary: str | None = None) -> list[str]:
    """``n`` champion predictions in the half hour before ``now`` with ``total_day_minutes`` shifted by ``shift``
    (drift), labels for the first ``labels``; with ``canary``, 60 slow canary requests of which 15 fell back
    (errors), and one rejected request of 5 rows. Returns the record ids written."""
    model = registry.load("churn", version)
    sample = data.sample(n, random_state=3).reset_index(drop=True)
    feats = sample[CHURN_SCHEMA.feature_names].copy()
    feats["total_day_minutes"] = feats["total_day_minutes"] + shift
    scores = model.predict_proba(feats)
    records = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
               for row in feats.to_dict(orient="records")]
    ids = [str(x) for x in sample[CHURN_SCHEMA.id_column]]
    rows = [PredictionRow(f"req-{i}", ids[i], now - 1800 + i, "churn", version, "champion", None, None, float(s),
                          int(s >= model.threshold), 20.0 + i % 7, records[i]) for i, s in enumerate(scores)]
    if canary is not None:
        rows += [PredictionRow(f"can-{i}", f"can-{i}", now - 600 + i, "churn", version if i < 15 else canary,
                               "fallback" if i < 15 else "canary", "error" if i < 15 else None,
                               canary if i < 15 else None, 0.2, 0, 300.0 + i, records[i]) for i in range(60)]
    with PredictionLog(layout.predictions_db("churn")) as log:
        log.write_predictions(rows)
        y = CHURN_SCHEMA.labels_to_int(sample[CHURN_SCHEMA.label]).to_numpy()
        log.write_labels([(ids[i], int(y[i])) for i in range(labels)], ts=now - 60)
        if canary is not None:
            log.write_rejection("rej-1", "churn", {"errors": [{"field": "total_day_minutes", "problem": "missing"}]},
                                rows=5)
    return ids


@dataclass
class StubTavily:
    base_url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200  # what the next answers use; 401 imitates a bad key


@contextmanager
def tavily_stub() -> Iterator[StubTavily]:
    """Serve on 127.0.0.1 (a free port) until the block ends; every request is recorded."""
    stub = StubTavily(base_url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
            stub.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            if stub.status != 200:
                payload: dict[str, Any] = {"detail": {"error": "Unauthorized: missing or invalid API key."}}
            else:
                n = int(body.get("max_results") or 5)
                payload = {"query": body.get("query"), "results": RESULTS[:n], "response_time": 0.01}
            data = json.dumps(payload).encode()
            self.send_response(stub.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
