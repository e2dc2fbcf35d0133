"""The serving benchmark judges the bare-handler target on the median of back-to-back pairs."""

from __future__ import annotations

import pytest

from evals.bench_serving_report import median_run, paired_ratios, report


def _run(rps: float, p99: float = 3.0) -> dict:
    return {"requests": int(rps), "rps": rps, "p50_ms": 1.0, "p99_ms": p99, "errors": 0}


def test_the_median_run_and_the_paired_ratios() -> None:
    runs = [_run(300), _run(100), _run(200)]
    assert median_run(runs)["rps"] == 200
    assert median_run([_run(1), _run(2)])["rps"] == 1  # the lower middle of an even count
    assert paired_ratios([_run(50), _run(70)], [_run(100), _run(100)]) == [0.5, 0.7]


def test_the_target_is_judged_on_the_median_pair_not_on_the_medians(capsys: pytest.CaptureFixture[str]) -> None:
    # the machine drifts between rounds and moves both sides of a pair alike: pairs of 50 %, 50 % and 40 %, where
    # the median of each side alone (520 / 1,200) would say 43 %
    runs = {("opsagent", "predict", 1): [_run(400), _run(600), _run(520)],
            ("bare", "predict", 1): [_run(800), _run(1200), _run(1300)]}
    report(runs, {}, [1], mlserver_absent=False)
    out = capsys.readouterr().out
    assert ("batch 1: predict vs bare predict: 50% of the limit's throughput (median of 3 rounds: 40%, 50%, 50%) "
            "(ok; target >= 50%)") in out
    assert "opsagent     predict     1     520.0" in out and "400 600 520" in out
