"""Throughput/latency of our scoring service against three references: same model version, same load, same run.

    python -m evals.bench_serving [--home HOME] [--seconds 8] [--rounds 1] [--concurrency 16] [--batch 1 16]
                                  [--mlserver PATH]

What is measured, one server at a time:
- opsagent: ``/predict`` (records) and the Open Inference Protocol v2 ``/v2/models/churn/infer`` (tensors);
- MLServer (``mlserver`` + ``mlserver-mlflow``) serving the same version's MLflow pyfunc over v2, with its
  defaults (one parallel inference worker), the peer a KServe team would pick. Its pins conflict with ours
  (fastapi < 0.116), so it lives in a venv of its own: ``--mlserver`` or ``OPSAGENT_BENCH_MLSERVER`` names its
  ``mlserver`` executable (else ``mlserver`` on PATH); without one its rows say "absent" and are skipped;
- ``mlflow models serve --env-manager local`` on ``/invocations`` (MLflow's own server);
- a bare handler on our HTTP stack that returns a fixed answer (``evals.bench_bare``): the limit.
The v2 body is byte-for-byte the same for opsagent, MLServer and the bare handler. Targets (issue 13): opsagent's
v2 >= 3x MLServer's throughput at a lower p99, >= 50 % of the bare handler's; /predict >= 2x mlflow's, p99 no worse.

Fair setup on a small machine: each server runs alone (one after the other), pinned to CPU 0 with one
intra-op thread (OMP_NUM_THREADS=1; MLServer's worker process shares that core); the load generator is
pinned to CPU 1. The load generator is a minimal asyncio HTTP/1.1 keep-alive client (pre-encoded requests,
Content-Length framing), so it costs little CPU and treats every server identically. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from evals.bench_serving_report import report
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.serving.server import free_port

MODEL = "churn"


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _wait(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not become ready (exit code {proc.poll()}); see its log in the bench home")


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


V2_KINDS = {"categorical": "BYTES", "integer": "INT64", "numeric": "FP64"}
V2_PATH = f"/v2/models/{MODEL}/infer"
ANSWERS_FILE = "bench-bare-answers.json"


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    ready_url: str
    endpoints: dict[str, tuple[str, Callable[[int], bytes]]]  # protocol -> (path, request body for batch b)
    env: dict[str, str] = field(default_factory=dict)


def v2_body(records: list[dict]) -> dict:
    """One tensor per feature column, typed as ``GET /v2/models/churn`` says (the id column left out)."""
    return {"inputs": [{"name": c.name, "shape": [len(records)], "datatype": V2_KINDS[c.kind],
                        "data": [r[c.name] for r in records]} for c in CHURN_SCHEMA.columns]}


def find_mlserver(given: Path | None) -> Path | None:
    """The ``mlserver`` executable: --mlserver, else OPSAGENT_BENCH_MLSERVER, else the one on PATH."""
    candidate = given or (Path(os.environ["OPSAGENT_BENCH_MLSERVER"]) if os.environ.get("OPSAGENT_BENCH_MLSERVER")
                          else (Path(p) if (p := shutil.which("mlserver")) else None))
    return candidate if candidate is not None and os.access(candidate, os.X_OK) else None


def mlserver_folder(home: Path, tracking_uri: str, version: str, port: int) -> Path:
    """An MLServer model repository serving the version's MLflow pyfunc, as ``mlserver start`` reads it."""
    import mlflow

    folder = home / "bench-mlserver"
    shutil.rmtree(folder, ignore_errors=True)
    model_dir = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{MODEL}/{version}",
                                                    dst_path=str(folder / "model"), tracking_uri=tracking_uri,
                                                    registry_uri=tracking_uri)
    (folder / "settings.json").write_text(json.dumps({
        "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(), "host": "127.0.0.1"}))
    (folder / "model-settings.json").write_text(json.dumps({
        "name": MODEL, "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": str(model_dir), "version": version}}))
    return folder


def run_server(srv: Server, home: Path, batches: list[int], args: argparse.Namespace, env: dict[str, str],
               answers: list | None, results: dict, samples: dict) -> None:
    """Start ``srv`` alone, check one answer per endpoint and batch, then measure each under the same load."""
    log = open(home / f"bench-{srv.name}.log", "wb")  # noqa: SIM115 - closed after the server stops
    proc = subprocess.Popen(_pin(0) + srv.cmd, env={**env, **srv.env}, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait(srv.ready_url, proc)
        for protocol, (path, body_for) in srv.endpoints.items():
            for b in batches:
                body = body_for(b)
                r = httpx.post(f"http://127.0.0.1:{srv.port}{path}", content=body,
                               headers={"content-type": "application/json"}, timeout=60)
                assert r.status_code == 200, f"{srv.name} {path}: {r.status_code} {r.text[:500]}"
                samples[(srv.name, protocol, b)] = r.json()
                if answers is not None:
                    answers.append([path, len(body), r.text])
                results.setdefault((srv.name, protocol, b), []).append(
                    measure(srv.port, path, body, args.concurrency, args.seconds, args.warmup))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def build_servers(home: Path, tracking_uri: str, version: str, records: list[dict], env: dict[str, str],
                  mlserver: Path | None, skip: list[str]) -> list[Server]:
    """opsagent first (its answers become the bare handler's), then the references not skipped."""
    features = [{k: v for k, v in r.items() if k != "customer_id"} for r in records]
    predict = ("/predict", lambda b: json.dumps({"records": records[:b]}).encode())
    v2 = (V2_PATH, lambda b: json.dumps(v2_body(features[:b])).encode())
    ports = {name: free_port() for name in ("opsagent", "bare", "mlserver", "mlflow")}
    answers_file = home / ANSWERS_FILE
    servers = [Server("opsagent", [sys.executable, "-m", "ml_core.serving", "--home", str(home), "--model", MODEL,
                                   "--port", str(ports["opsagent"])], ports["opsagent"],
                      f"http://127.0.0.1:{ports['opsagent']}/ready", {"predict": predict, "v2": v2})]
    if "bare" not in skip:
        servers.append(Server("bare", [sys.executable, "-m", "evals.bench_bare", "--port", str(ports["bare"]),
                                       "--answers", str(answers_file)], ports["bare"],
                              f"http://127.0.0.1:{ports['bare']}/ready", {"predict": predict, "v2": v2}))
    if mlserver is not None:
        folder = mlserver_folder(home, tracking_uri, version, ports["mlserver"])
        servers.append(Server("mlserver", [str(mlserver), "start", str(folder)], ports["mlserver"],
                              f"http://127.0.0.1:{ports['mlserver']}/v2/models/{MODEL}/ready", {"v2": v2},
                              {"PATH": os.pathsep.join([str(mlserver.parent), env["PATH"]])}))
    if "mlflow" not in skip:
        servers.append(Server("mlflow", [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m",
                                         f"models:/{MODEL}/{version}", "--env-manager", "local", "-h", "127.0.0.1",
                                         "-p", str(ports["mlflow"])], ports["mlflow"],
                              f"http://127.0.0.1:{ports['mlflow']}/ping", {"mlflow": (
                                  "/invocations", lambda b: json.dumps({"dataframe_records": features[:b]}).encode())}))
    return servers


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m evals.bench_serving", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", type=Path, default=None, help="home with a registered 'churn' (default: a temp one)")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16])
    p.add_argument("--mlserver", type=Path, default=None, help="the mlserver executable of MLServer's own venv")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure opsagent and the bare handler this many times, alternately, and judge the median "
                        "of the paired ratios (the references measured once)")
    p.add_argument("--skip", nargs="*", default=[], choices=["mlserver", "mlflow", "bare"],
                   help="references to leave out")
    args = p.parse_args(argv)

    from ml_core.data.churn import load_churn
    from ml_core.paths import HomeLayout
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
    mlserver = find_mlserver(args.mlserver) if "mlserver" not in args.skip else None
    servers = build_servers(home, layout.tracking_uri, version, records, env, mlserver, args.skip)
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # the load generator's core
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    results: dict[tuple[str, str, int], list[dict]] = {}
    samples: dict[tuple[str, str, int], dict] = {}
    answers: list = []
    answers_file = home / ANSWERS_FILE
    paired = [s for s in servers if s.name in ("opsagent", "bare")]
    for i in range(args.rounds):
        for srv in paired if i else servers:
            run_server(srv, home, args.batch, args, env, answers if srv.name == "opsagent" and not i else None,
                       results, samples)
            if srv.name == "opsagent" and not i:
                answers_file.write_text(json.dumps(answers))  # the bare handler sends our own answers back

    print(f"\nmodel {MODEL} v{version}; {args.concurrency} keep-alive connections; {args.seconds:g} s measured "
          f"after {args.warmup:g} s warm-up{f', {args.rounds} rounds' if args.rounds > 1 else ''}; servers pinned "
          "to CPU 0 (OMP_NUM_THREADS=1), load generator to CPU 1")
    report(results, samples, args.batch, mlserver is None and "mlserver" not in args.skip)
    if args.home is None:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
