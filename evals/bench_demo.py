"""Benchmark: `opsagent demo` wall time, and how much of the drift-onset → promoted time the agent adds.

    python -m evals.bench_demo [--epochs 40] [--requests 100] [--repeats 1]

Runs the whole demo as a user does — the `opsagent demo` command in a subprocess, in a fresh temporary home
(train v1, deploy, quiet triage, drift, triage, approval, retrain, gate, canary, promote) — and reads the step
times it writes with ``--timings``. The peer, measured in the same run, is the ML work the agent orchestrates:
the remediation step (retrain + gate + the canary's replayed traffic). The ratio says how much the agent's own
triage (signals, memory, post-mortem, proposal, approvals, checkpoints) costs next to it. Target: drift onset →
promoted < 5 min on a 2-core CPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TARGET_S = 300.0
OPSAGENT = Path(sys.executable).parent / "opsagent"


def span(steps: list[dict[str, Any]], prefix: str, total: float) -> float:
    """Seconds from the step whose title starts with ``prefix`` to the next step (or the end)."""
    for i, step in enumerate(steps):
        if step["title"].startswith(prefix):
            end = steps[i + 1]["start_s"] if i + 1 < len(steps) else total
            return float(end - step["start_s"])
    return 0.0


def run_once(epochs: int, requests: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        timings = Path(tmp) / "timings.json"
        command = [str(OPSAGENT), "demo", "--home", str(Path(tmp) / "home"), "--epochs", str(epochs),
                   "--requests", str(requests), "--timings", str(timings)]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
        if done.returncode != 0 or not timings.is_file():
            sys.exit(f"the demo failed (exit {done.returncode}):\n{done.stderr[-2000:] or done.stdout[-2000:]}")
        out = json.loads(timings.read_text())
    for step in out["steps"]:
        print(f"  {step['start_s']:7.1f} s  {step['title']}")
    if not out["promoted"]:
        print(f"  not promoted ({out['outcome']}); drift → promoted is not measured for this run")
    total = float(out["total_s"])
    return {"total": total, "drift_to_promoted": out["drift_to_promoted_s"] or float("nan"),
            "triage": span(out["steps"], "5.", total), "remediation": span(out["steps"], "7.", total),
            "promoted": float(out["promoted"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    runs = []
    for i in range(args.repeats):
        print(f"run {i + 1}/{args.repeats}")
        runs.append(run_once(args.epochs, args.requests))
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print()
    print(f"{'phase':<36}{'median s':>10}")
    for key, label in (("total", "whole demo"), ("drift_to_promoted", "drift onset → promoted"),
                       ("triage", "  triage (step 5)"), ("remediation", "  remediation (step 7)")):
        print(f"{label:<36}{med[key]:>10.1f}")
    verdict = "meets" if med["drift_to_promoted"] < TARGET_S else "misses"
    print(f"\ndrift onset → promoted: {med['drift_to_promoted']:.1f} s — {verdict} the {TARGET_S:.0f} s target")
    if med["remediation"]:
        print(f"triage time / remediation time (the ML work it leads to): {med['triage'] / med['remediation']:.2f}")


if __name__ == "__main__":
    main()
