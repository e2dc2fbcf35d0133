"""The scoring service's own CPU cost per request, in process: its ASGI app driven directly, no HTTP, no sockets.

    taskset -c 0 python -m evals.bench_serving_inproc [--home HOME] [--requests 3000] [--rounds 5] [--batch 1 16]

``evals.bench_serving`` measures throughput against the bare handler over real HTTP, where a shared machine's load
moves every figure by tens of per cent. This drives the same app (``create_app``, heap frozen, the champion of
HOME's ``churn``, as ``bench_serving`` registers it) with 16 concurrent callers on one uvloop loop and divides the
process's CPU time by the requests, for ``/predict`` and v2 ``infer`` at each batch size: what the service itself
costs a request, HTTP parsing aside, far less sensitive to other processes. Pin it to one core (``taskset``) with
one BLAS thread, as the serving benchmark pins the server; compare two versions of the code by running each on
its own copy of the home, alternated. Prints the lowest and the median round (``--rounds``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CALLERS = int(__import__('os').environ.get('CALLERS','16'))  # as bench_serving's keep-alive connections


def _scope(path: str, body: bytes) -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}


async def call(app: Any, path: str, body: bytes) -> int:
    """One request through the app; its HTTP status."""
    delivered = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects mid-request
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(_scope(path, body), receive, send)
    return status[0]


async def caller(app: Any, path: str, body: bytes, todo: Iterator[int]) -> None:
    for _ in todo:
        await call(app, path, body)


async def run(home: Path, requests: int, rounds: int, batches: list[int]) -> None:
    from evals.bench_serving import MODEL, V2_PATH, v2_body
    from ml_core.data.churn import load_churn
    from ml_core.paths import HomeLayout
    from ml_core.serving.app import create_app
    from ml_core.serving.heap import settle_heap

    records = load_churn().drop(columns=["churn"]).head(max(batches)).to_dict("records")
    features = [{k: v for k, v in r.items() if k != "customer_id"} for r in records]
    app = create_app(HomeLayout(home), MODEL, freeze_heap=True)
    async with app.router.lifespan_context(app):
        service = app.state.service
        while not service.status().ready:
            await asyncio.sleep(0.1)
        settle_heap()
        for protocol, path in (("predict", "/predict"), ("v2", V2_PATH)):
            for b in batches:
                body = json.dumps({"records": records[:b]} if protocol == "predict" else v2_body(features[:b])).encode()
                if (status := await call(app, path, body)) != 200:
                    raise SystemExit(f"{path} answered {status} for a batch of {b}")
                n = max(CALLERS, requests // b ** 0.5)  # fewer requests for bigger batches: similar time a round
                costs = []
                for _ in range(rounds):
                    todo = iter(range(int(n)))  # shared: the callers take requests from it until it runs out
                    cpu = time.process_time()
                    await asyncio.gather(*(caller(app, path, body, todo) for _ in range(CALLERS)))
                    costs.append((time.process_time() - cpu) / int(n) * 1e6)
                costs.sort()
                print(f"{protocol:8} batch {b:<4} CPU per request: lowest {costs[0]:7.1f} us, "
                      f"median {costs[len(costs) // 2]:7.1f} us ({rounds} rounds of {int(n)})", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evals.bench_serving_inproc", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, required=True,
                   help="a home with 'churn' registered and deployed (one python -m evals.bench_serving --home run)")
    p.add_argument("--requests", type=int, default=3000, help="requests a round at batch 1")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    args = p.parse_args(argv)
    if not (args.home / "deploy" / "churn.json").exists():
        p.error(f"{args.home} has no deployed churn: run python -m evals.bench_serving --home {args.home} once")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.setswitchinterval(0.0001)  # as python -m ml_core.serving sets it (--gil-switch-ms 0.1)
    import uvloop

    uvloop.run(run(args.home, args.requests, args.rounds, args.batch))


if __name__ == "__main__":
    main()
