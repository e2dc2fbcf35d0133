"""Throughput/latency of our scoring service vs ``mlflow models serve``, same model version, same load.

    python -m evals.bench_serving [--home HOME] [--seconds 8] [--concurrency 16] [--batch 1 16]

Fair setup on a small machine: each server runs alone (one after the other), pinned to CPU 0 with one
intra-op thread (OMP_NUM_THREADS=1); the load generator is pinned to CPU 1. The load generator is a
minimal asyncio HTTP/1.1 keep-alive client (pre-encoded requests, Content-Length framing), so it costs
little CPU and treats both servers identically. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from ml_core.data.churn import CHURN_SCHEMA

MODEL = "churn"


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _wait(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not become ready")


async def _load(port: int, path: str, body: bytes, concurrency: int, seconds: float, warmup: float
                ) -> tuple[int, list[float], int]:
    req = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    lat: list[float] = []
    errors = 0
    t_start = time.perf_counter()
    t_measure, t_end = t_start + warmup, t_start + warmup + seconds

    async def conn() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            t0 = time.perf_counter()
            if t0 >= t_end:
                break
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            t1 = time.perf_counter()
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            elif t0 >= t_measure:
                lat.append(t1 - t0)
        writer.close()

    await asyncio.gather(*(conn() for _ in range(concurrency)))
    return len(lat), lat, errors


def measure(port: int, path: str, body: bytes, concurrency: int, seconds: float, warmup: float) -> dict:
    n, lat, errors = asyncio.run(_load(port, path, body, concurrency, seconds, warmup))
    a = np.asarray(lat) * 1000
    return {"requests": n, "rps": n / seconds, "p50_ms": float(np.percentile(a, 50)) if n else float("nan"),
            "p99_ms": float(np.percentile(a, 99)) if n else float("nan"), "errors": errors}


def prepare_home(home: Path) -> str:
    from ml_core.data.churn import load_churn
    from ml_core.jobs import train_and_register
    from ml_core.paths import HomeLayout
    from ml_core.registry import Registry
    from ml_core.training import TrainConfig

    reg = Registry(HomeLayout(home))
    versions = reg.versions(MODEL) if MODEL in reg.models() else []
    if versions:
        return versions[-1].version
    return train_and_register(reg, load_churn(), TrainConfig(epochs=2), model_name=MODEL, schema=CHURN_SCHEMA).version


def main(argv: list[str] | None = None) -> None:
    # A benchmark script reads top to bottom (arguments, both servers, the same load on each, the table): kept whole.
    p = argparse.ArgumentParser(prog="python -m evals.bench_serving", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, default=None, help="home with a registered 'churn' (default: a temp one)")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    args = p.parse_args(argv)

    from ml_core.data.churn import load_churn
    from ml_core.paths import HomeLayout
    from ml_core.serving.server import free_port
    from ml_core.serving.state import DeploymentState, state_path, write_state

    home = args.home or Path(tempfile.mkdtemp(prefix="opsagent-bench-"))
    layout = HomeLayout(home).ensure()
    version = prepare_home(home)
    write_state(state_path(layout, MODEL), DeploymentState(model=MODEL, champion=version, latency_budget_ms=5000))
    records = load_churn().drop(columns=["churn"]).head(max(args.batch)).to_dict("records")

    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": layout.tracking_uri,
           "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           # mlflow execs `uvicorn` by name: the venv's bin must be on PATH
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    ours_port, mlflow_port = free_port(), free_port()
    servers = {
        "opsagent": ([sys.executable, "-m", "ml_core.serving", "--home", str(home), "--model", MODEL,
                      "--port", str(ours_port)], ours_port, "/predict", f"http://127.0.0.1:{ours_port}/ready",
                     lambda recs: {"records": recs}),
        "mlflow": ([str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m",
                    f"models:/{MODEL}/{version}", "--env-manager", "local", "-h", "127.0.0.1", "-p",
                    str(mlflow_port)], mlflow_port, "/invocations", f"http://127.0.0.1:{mlflow_port}/ping",
                   lambda recs: {"dataframe_records": [{k: v for k, v in r.items() if k != "customer_id"}
                                                       for r in recs]}),
    }
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the load generator's core
    results: dict[tuple[str, int], dict] = {}
    for name, (cmd, port, path, ready_url, payload) in servers.items():
        log = open(home / f"bench-{name}.log", "wb")  # noqa: SIM115 - closed after the server stops
        proc = subprocess.Popen(_pin(0) + cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait(ready_url, proc)
            for b in args.batch:
                body = json.dumps(payload(records[:b])).encode()
                r = httpx.post(f"http://127.0.0.1:{port}{path}", content=body,
                               headers={"content-type": "application/json"}, timeout=30)
                assert r.status_code == 200, r.text[:500]
                results[(name, b)] = measure(port, path, body, args.concurrency, args.seconds, args.warmup)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()

    print(f"\nmodel {MODEL} v{version}; {args.concurrency} keep-alive connections; {args.seconds:g} s measured "
          f"after {args.warmup:g} s warm-up; servers pinned to CPU 0 (OMP_NUM_THREADS=1), load generator to CPU 1")
    print(f"{'server':<10}{'batch':>6}{'req/s':>10}{'rows/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for (name, b), m in results.items():
        print(f"{name:<10}{b:>6}{m['rps']:>10.1f}{m['rps'] * b:>10.0f}{m['p50_ms']:>9.1f}{m['p99_ms']:>9.1f}"
              f"{m['errors']:>8}")
    for b in args.batch:
        ours, ref = results[("opsagent", b)], results[("mlflow", b)]
        verdict = "ok" if ours["rps"] >= 2 * ref["rps"] and ours["p99_ms"] <= ref["p99_ms"] else "below target"
        print(f"batch {b}: throughput ratio {ours['rps'] / ref['rps']:.2f}x, p99 {ours['p99_ms']:.1f} vs "
              f"{ref['p99_ms']:.1f} ms ({verdict}; target >= 2x with p99 no worse)")
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
