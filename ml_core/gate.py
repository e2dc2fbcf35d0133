"""Champion-vs-challenger gate: may a newly trained version replace the one in production?"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

from ml_core.evaluation import BiasFlag, EvaluationReport


class GatePolicy(BaseModel):
    """What a challenger must show, judged on the same held-out rows as the champion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(default="auc", description="the headline metric the challenger must not lose on")
    min_gain: float = Field(default=0.0, ge=-0.1, le=0.1,
                            description="challenger metric - champion metric must be at least this; "
                                        "negative allows a small loss (e.g. -0.005 for a fresher model)")
    f1_tolerance: float = Field(default=0.01, ge=0.0, le=1.0,
                                description="F1 may drop at most this much below the champion's")
    slice_metric: str = Field(default="auc", description="metric compared slice by slice")
    max_slice_regression: float = Field(default=0.05, ge=0.0, le=1.0,
                                        description="no slice may lose more than this on slice_metric")
    block_new_bias: bool = Field(default=True,
                                 description="fail when the challenger's bias check flags a group that "
                                             "the champion's did not")
    bias_alpha: float = Field(default=0.05, gt=0.0, le=1.0,
                              description="a new bias flag fails the gate only when the challenger serves that group "
                                          "significantly worse than the champion at this level")


class SliceDelta(BaseModel):
    column: str
    value: str
    champion: float
    challenger: float
    delta: float = Field(description="challenger - champion")


class GateVerdict(BaseModel):
    """The decision with a human-readable reason for every check, passed or failed."""

    passed: bool
    reasons: list[str]
    metric: str
    champion_value: float | None = None
    challenger_value: float
    deltas: dict[str, float] = Field(default_factory=dict, description="challenger - champion, overall")
    slice_deltas: list[SliceDelta] = Field(default_factory=list)
    failed_checks: list[str] = Field(default_factory=list, description="names of the checks that failed")

    def summary(self) -> str:
        return ("PASSED" if self.passed else "FAILED") + ": " + "; ".join(self.reasons)


def _slice_deltas(champion: EvaluationReport, challenger: EvaluationReport, metric: str) -> list[SliceDelta]:
    out: list[SliceDelta] = []
    for s in challenger.slices:
        c = champion.slice(s.column, s.value)
        if s.skipped or c is None or c.skipped:
            continue
        a, b = c.metrics.get(metric, math.nan), s.metrics.get(metric, math.nan)
        if math.isnan(a) or math.isnan(b):
            continue
        out.append(SliceDelta(column=s.column, value=s.value, champion=a, challenger=b, delta=b - a))
    return out


def gate(champion: EvaluationReport | None, challenger: EvaluationReport,
         policy: GatePolicy | None = None) -> GateVerdict:
    """Compare two evaluation reports of the same rows. Passes when there is no champion."""
    policy = policy or GatePolicy()
    m = policy.metric
    new = challenger.overall[m]
    if champion is None:
        return GateVerdict(passed=True, reasons=[f"no champion: the challenger ({m} {new:.4f}) is the first"],
                           metric=m, challenger_value=new)

    old = champion.overall[m]
    reasons: list[str] = []
    failed: list[str] = []
    deltas = {k: challenger.overall[k] - champion.overall[k]
              for k in challenger.overall if k in champion.overall and k != "n"}

    gain = new - old
    ok = gain >= policy.min_gain - 1e-12
    reasons.append(f"{m} {new:.4f} vs champion {old:.4f} ({gain:+.4f}) "
                   f"{'meets' if ok else 'misses'} the required gain {policy.min_gain:+.4f}")
    if not ok:
        failed.append("metric")

    f1_new, f1_old = challenger.overall["f1"], champion.overall["f1"]
    ok = f1_new >= f1_old - policy.f1_tolerance - 1e-12
    reasons.append(f"f1 {f1_new:.4f} vs champion {f1_old:.4f} ({f1_new - f1_old:+.4f}) "
                   f"{'within' if ok else 'beyond'} the tolerance {policy.f1_tolerance:.4f}")
    if not ok:
        failed.append("f1")

    slices = _slice_deltas(champion, challenger, policy.slice_metric)
    worse = [d for d in slices if d.delta < -policy.max_slice_regression - 1e-12]
    if worse:
        failed.append("slices")
        reasons.append(f"{len(worse)} slice(s) lost more than {policy.max_slice_regression:.3f} "
                       f"{policy.slice_metric}: " + ", ".join(
                           f"{d.column}={d.value} {d.champion:.4f}→{d.challenger:.4f}" for d in worse))
    elif slices:
        w = min(slices, key=lambda d: d.delta)
        reasons.append(f"no slice lost more than {policy.max_slice_regression:.3f} {policy.slice_metric} "
                       f"(worst {w.column}={w.value} {w.delta:+.4f})")
    else:
        reasons.append("no comparable slices")

    if policy.block_new_bias:
        before = {(f.column, f.value) for f in champion.bias.flagged}
        fresh = [f for f in challenger.bias.flagged if (f.column, f.value) not in before]
        p_worse = {(f.column, f.value): served_worse(champion, challenger, f, challenger.bias.metric) for f in fresh}
        new_flags = [f for f in fresh if p_worse[(f.column, f.value)] < policy.bias_alpha]
        for f in fresh:
            if f not in new_flags:
                reasons.append(f"bias check flags {f.column}={f.value} ({challenger.bias.metric} gap {f.gap:.3f}), "
                               f"but the challenger does not serve it significantly worse than the champion "
                               f"(p={p_worse[(f.column, f.value)]:.2f}): the gap widened elsewhere or is noise")
        if new_flags:
            failed.append("bias")
            reasons.append("bias check flags group(s) the champion did not: " + ", ".join(
                f"{f.column}={f.value} ({challenger.bias.metric} gap {f.gap:.3f})" for f in new_flags))
        else:
            reasons.append("no new bias flags")

    return GateVerdict(passed=not failed, reasons=reasons, metric=m, champion_value=old, challenger_value=new,
                       deltas=deltas, slice_deltas=slices, failed_checks=failed)


def served_worse(champion: EvaluationReport, challenger: EvaluationReport, flag: BiasFlag, metric: str) -> float:
    """One-sided p-value that the challenger serves the flagged group worse than the champion on ``metric``.

    A bias flag is relative to the overall metric, so a challenger that serves every other group better widens a
    group's gap without serving it any worse; and a group's recall rests on its positives alone (about 60 owners in
    the credit test rows: a standard error near 0.06), so a point estimate against a fixed gap flips by chance. A
    new flag therefore fails the gate only when the group itself is served worse than by the champion on the same
    rows: a two-proportion z-test on the group's positives (recall) or rows, conservative for two models scored on
    the same rows. 0.0 (keep the flag) when either report lacks the group's metric.
    """
    old, new = champion.slice(flag.column, flag.value), challenger.slice(flag.column, flag.value)
    if old is None or new is None or metric not in old.metrics or metric not in new.metrics:
        return 0.0
    n = old.positives if metric == "recall" else old.n
    a, b = old.metrics[metric], new.metrics[metric]
    if n <= 0 or math.isnan(a) or math.isnan(b):
        return 0.0
    pooled = min(max((a + b) / 2, 1e-6), 1 - 1e-6)
    z = (a - b) / math.sqrt(pooled * (1 - pooled) * 2 / n)
    return 0.5 * math.erfc(z / math.sqrt(2))
