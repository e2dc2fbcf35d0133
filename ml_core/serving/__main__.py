"""``python -m ml_core.serving --home HOME --model churn --port P``: run the scoring service.

The registry it loads versions from is ``--tracking-uri``, else ``OPSAGENT_MLFLOW_TRACKING_URI`` (how a container
is told), else the SQLite store in HOME."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ml_core.paths import TRACKING_URI_ENV, HomeLayout


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ml_core.serving", description=__doc__)
    p.add_argument("--home", required=True, type=Path, help="OPSAGENT_HOME (registry, logs, deploy state)")
    p.add_argument("--model", default="churn", help="registered model name")
    p.add_argument("--port", type=int, default=8081)
    p.add_argument("--host", default="127.0.0.1", help="bind address; loopback unless you front it with a proxy")
    p.add_argument("--tracking-uri", default=os.environ.get(TRACKING_URI_ENV) or None,
                   help=f"MLflow tracking URI of the registry (default: ${TRACKING_URI_ENV}, else SQLite in HOME)")
    p.add_argument("--state", type=Path, default=None, help="state file (default HOME/deploy/MODEL.json)")
    p.add_argument("--seed", type=int, default=None, help="seed of the traffic-split RNG")
    p.add_argument("--torch-threads", type=int, default=1,
                   help="intra-op threads; small batches gain nothing from more, and they steal the event loop's core")
    p.add_argument("--gil-switch-ms", type=float, default=0.1,
                   help="how long a thread may hold the GIL while another waits (CPython's default: 5 ms)")
    p.add_argument("--otel", action="store_true",
                   default=os.environ.get("OPSAGENT_SERVING_OTEL", "").lower() in ("1", "true", "on"),
                   help="FastAPI's OpenTelemetry spans and metrics for each HTTP request, to the providers the "
                        "process configured (opentelemetry-instrument, OTEL_* variables); default: off, or "
                        "OPSAGENT_SERVING_OTEL=1")
    args = p.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch
    import uvicorn

    from ml_core.paths import DATABASE_URL_ENV, database_url
    from ml_core.serving.app import create_app

    torch.set_num_threads(args.torch_threads)
    # The event loop, the model thread and the log writer share one GIL. The model thread gives the GIL up and
    # takes it back at every torch call; each time it takes it back while the loop runs, it waits for the loop's
    # switch interval (the "convoy effect"), 5 ms by default, so a forward pass of ~20 calls could cost tens of
    # ms of waiting. At 0.1 ms, the same load (16 connections, one core) gave ~1.5x the requests per second at
    # batch 1 and at batch 16 (README, scoring service benchmark); the cost is more frequent switches.
    sys.setswitchinterval(args.gil_switch_ms / 1000)
    # The team database for the prediction log, from the environment so its password stays out of `ps`.
    layout = HomeLayout(args.home, database_url=database_url(os.environ.get(DATABASE_URL_ENV)))
    app = create_app(layout, args.model, state_file=args.state, seed=args.seed, tracking_uri=args.tracking_uri,
                     freeze_heap=True,  # this process only serves: its collector skips the loaded heap
                     http_telemetry={} if args.otel else None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", timeout_graceful_shutdown=5,
                timeout_keep_alive=75)  # longer than common proxies' idle timeout, so the proxy closes first


if __name__ == "__main__":
    main()
