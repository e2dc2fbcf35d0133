"""Benchmark: `opsagent demo` wall time, and how much of the drift-onset → promoted time the agent adds.

    python -m evals.bench_demo [--epochs 40] [--requests 100] [--repeats 1]

Runs the whole demo in a fresh temporary home (train v1, deploy, quiet triage, drift, triage, approval,
retrain, gate, canary, promote) and times each step. The peer, measured in the same run, is the ML
work the agent orchestrates: the retrain pipeline (train + gate) and the canary's replayed traffic. The
ratio says how much the agent's own steps (triage, memory, post-mortem, proposal, approvals, checkpoints,
verification) add on top. Target: drift onset → promoted < 5 min on a 2-core CPU machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from agent.narrator import Narrator
from agent.settings import Settings
from ml_core.paths import HomeLayout

TARGET_S = 300.0


class StepClock(Narrator):
    """Records when each demo step starts."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float]] = []

    def step(self, title: str) -> None:
        self.marks.append((title, time.perf_counter()))
        print(f"  {title}", flush=True)

    def span(self, prefix: str) -> float:
        """Seconds from the step starting with ``prefix`` to the next step."""
        for (title, t), (_next, t_next) in zip(self.marks, self.marks[1:], strict=False):
            if title.startswith(prefix):
                return t_next - t
        return 0.0


def run_once(epochs: int, requests: int) -> dict[str, float]:
    from agent.demo import run_demo

    clock = StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        layout = HomeLayout(Path(tmp) / "home").ensure()
        t0 = time.perf_counter()
        result = run_demo(layout, clock, epochs=epochs, requests=requests, settings=Settings(home=layout.home))
        total = time.perf_counter() - t0
    if not result.promoted:
        print(f"  not promoted ({result.outcome}); drift → promoted is not measured for this run")
    triage = clock.span("5.")
    remediation = clock.span("7.")
    return {"total": total, "drift_to_promoted": result.seconds_drift_to_promoted or float("nan"),
            "triage": triage, "remediation": remediation, "promoted": float(result.promoted)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    from agent.cli.common import quiet_libraries

    quiet_libraries()
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
