"""The benchmark's scores per data set and batch: one group per model and batch of scenarios (the original set,
step6, step7 ...), its held-out scenarios apart; per batch over every model; and all together.

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
    label: str  # "churn", "credit · step6 · held out", "step7 · held out", or "all"
    model: str | None  # None: every model
    holdout: bool | None  # None: held out or not
    scenarios: list[str]
    totals: Totals
    batch: str | None = None  # None: every batch


Row = tuple[EvalScenario, CaseScore, ScenarioRun]


def _group(label: str, model: str | None, holdout: bool | None, rows: list[Row], batch: str | None = None) -> Group:
    scores, runs = [s for _, s, _ in rows], [r for _, _, r in rows]
    names = list(dict.fromkeys(sc.name for sc, _, _ in rows))
    return Group(label, model, holdout, names, totals(scores, runs, wall_seconds=sum(r.seconds for r in runs)),
                 batch)


def _halves(prefix: str, model: str | None, batch: str | None, rows: list[Row]) -> list[Group]:
    """The tuned-on half, then the held-out half, of ``rows`` (each only if it has runs)."""
    out = []
    for holdout, label in ((False, prefix), (True, f"{prefix} · {HELD_OUT}")):
        chosen = [row for row in rows if row[0].holdout is holdout]
        if chosen:
            out.append(_group(label, model, holdout, chosen, batch))
    return out


def data_set_groups(scenarios: list[EvalScenario], scores: list[CaseScore], runs: list[ScenarioRun]) -> list[Group]:
    """Per model (in the order the scenarios name them) and batch: its tuned-on scenarios, then its held-out ones;
    per batch over every model when a batch spans several; then ``all`` when there is more than one group.
    ``scores`` and ``runs`` are paired, one per run."""
    by_name = {s.name: s for s in scenarios}
    rows = [(by_name[s.scenario], s, r) for s, r in zip(scores, runs, strict=True)]
    batches = list(dict.fromkeys(sc.batch for sc, _, _ in rows))
    groups: list[Group] = []
    for model in dict.fromkeys(sc.model_name for sc, _, _ in rows):
        for batch in batches:
            mine = [row for row in rows if row[0].model_name == model and row[0].batch == batch]
            groups += _halves(model if batch == "original" else f"{model} · {batch}", model, batch, mine)
    for batch in batches:
        mine = [row for row in rows if row[0].batch == batch]
        if len({sc.model_name for sc, _, _ in mine}) > 1:
            groups += _halves(batch, None, batch, mine)
    if len(groups) > 1:
        groups.append(_group(OVERALL, None, None, rows))
    return groups
