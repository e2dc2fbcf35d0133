"""The benchmark's scores per data set: one group per model, its held-out scenarios apart, and all together.

Held-out scenarios were written before any rule ran on them and are never to be tuned on, so their scores
are reported beside the rest rather than inside them; the overall totals count every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from evals.scenario_model import EvalScenario
from evals.scoring import CaseScore, ScenarioRun, Totals, totals

OVERALL = "all"
HELD_OUT = "held out"


@dataclass(frozen=True)
class Group:
    label: str  # "credit", "credit · held out", or "all"
    model: str | None  # None: every model
    holdout: bool | None  # None: held out or not
    scenarios: list[str]
    totals: Totals


def _group(label: str, model: str | None, holdout: bool | None,
           rows: list[tuple[EvalScenario, CaseScore, ScenarioRun]]) -> Group:
    scores, runs = [s for _, s, _ in rows], [r for _, _, r in rows]
    names = list(dict.fromkeys(sc.name for sc, _, _ in rows))
    return Group(label, model, holdout, names, totals(scores, runs, wall_seconds=sum(r.seconds for r in runs)))


def data_set_groups(scenarios: list[EvalScenario], scores: list[CaseScore], runs: list[ScenarioRun]) -> list[Group]:
    """Per model (in the order the scenarios name them): its tuned-on scenarios, then its held-out ones; then
    ``all`` when there is more than one group. ``scores`` and ``runs`` are paired, one per run."""
    by_name = {s.name: s for s in scenarios}
    rows = [(by_name[s.scenario], s, r) for s, r in zip(scores, runs, strict=True)]
    groups: list[Group] = []
    for model in dict.fromkeys(sc.model_name for sc, _, _ in rows):
        mine = [row for row in rows if row[0].model_name == model]
        for holdout, label in ((False, model), (True, f"{model} · {HELD_OUT}")):
            chosen = [row for row in mine if row[0].holdout is holdout]
            if chosen:
                groups.append(_group(label, model, holdout, chosen))
    if len(groups) > 1:
        groups.append(_group(OVERALL, None, None, rows))
    return groups
