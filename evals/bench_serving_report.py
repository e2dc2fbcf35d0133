"""What ``evals.bench_serving`` prints: each server's median run and the targets, judged against the references.

The bare-handler target is judged on the median of the back-to-back pairs (``--rounds``): the limit is measured in
every round beside us, so the machine's drift between rounds moves both sides of a pair alike. The references that
are speed peers (MLServer, ``mlflow models serve``) are measured once and compared with our median run.
"""

from __future__ import annotations

import numpy as np

TARGETS = {"mlserver": 3.0, "bare": 0.5, "mlflow": 2.0}  # issue 13 (MLServer, bare) and Step 5 (mlflow)


def v2_scores(answer: dict) -> list[float]:
    out = {o["name"]: o for o in answer["outputs"]}
    return [float(x) for x in np.ravel((out.get("probability") or out["score"])["data"])]


def median_run(runs: list[dict]) -> dict:
    """The run of median throughput (the lower middle one of an even count), its p50 and p99 with it."""
    return sorted(runs, key=lambda m: m["rps"])[(len(runs) - 1) // 2]


def paired_ratios(ours: list[dict], theirs: list[dict]) -> list[float]:
    """Throughput ratios of the runs measured back to back (round i of each): the machine's drift between rounds
    moves both sides of a pair alike."""
    return [a["rps"] / b["rps"] for a, b in zip(ours, theirs, strict=False)]


def report(runs: dict, samples: dict, batches: list[int], mlserver_absent: bool) -> None:
    results = {key: median_run(ms) for key, ms in runs.items()}
    rounds = max(map(len, runs.values()), default=1)
    print(f"{'server':<10}{'protocol':>10}{'batch':>6}{'req/s':>10}{'rows/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'errors':>8}" + ("   req/s of each round" if rounds > 1 else ""))
    for (name, protocol, b), m in results.items():
        each = " ".join(f"{r['rps']:.0f}" for r in runs[(name, protocol, b)]) if rounds > 1 else ""
        print(f"{name:<10}{protocol:>10}{b:>6}{m['rps']:>10.1f}{m['rps'] * b:>10.0f}{m['p50_ms']:>9.1f}"
              f"{m['p99_ms']:>9.1f}{sum(r['errors'] for r in runs[(name, protocol, b)]):>8}   {each}")
    if mlserver_absent:
        print("mlserver: absent (no mlserver executable; pass --mlserver or set OPSAGENT_BENCH_MLSERVER) - skipped")
    for b in batches:
        for ours_p, ref, ref_p, speed in [("v2", "mlserver", "v2", True), ("predict", "mlserver", "v2", True),
                                          ("v2", "bare", "v2", False), ("predict", "bare", "predict", False),
                                          ("predict", "mlflow", "mlflow", True)]:
            ours, theirs = results.get(("opsagent", ours_p, b)), results.get((ref, ref_p, b))
            if ours is None or theirs is None:
                continue
            ratio = ours["rps"] / theirs["rps"]
            if speed:
                ok = ratio >= TARGETS[ref] and ours["p99_ms"] < theirs["p99_ms"]
                print(f"batch {b}: {ours_p} vs {ref} {ref_p}: {ratio:.2f}x throughput, p99 {ours['p99_ms']:.1f} vs "
                      f"{theirs['p99_ms']:.1f} ms ({'ok' if ok else 'below target'}; target >= "
                      f"{TARGETS[ref]:g}x at a lower p99)")
            else:  # the median of the back-to-back pairs: the limit is measured in every round beside us
                pairs = sorted(paired_ratios(runs[("opsagent", ours_p, b)], runs[(ref, ref_p, b)]))
                ratio = pairs[(len(pairs) - 1) // 2]
                each = f" (median of {len(pairs)} rounds: {', '.join(f'{r:.0%}' for r in pairs)})" if len(
                    pairs) > 1 else ""
                ok = ratio >= TARGETS[ref]
                print(f"batch {b}: {ours_p} vs bare {ref_p}: {ratio:.0%} of the limit's throughput{each} "
                      f"({'ok' if ok else 'below target'}; target >= {TARGETS[ref]:.0%})")
        if ("opsagent", "v2", b) in samples and ("mlserver", "v2", b) in samples:
            diff = np.max(np.abs(np.subtract(v2_scores(samples[("opsagent", "v2", b)]),
                                             v2_scores(samples[("mlserver", "v2", b)]))))
            print(f"batch {b}: opsagent and MLServer scores agree to {diff:.1e} (MLServer answers float32)")
