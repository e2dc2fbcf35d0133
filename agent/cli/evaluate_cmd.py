"""`opsagent evaluate` — metrics, slices, bias check, and the champion-vs-challenger gate."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from agent.cli.common import console


def evaluate(
    version: str = typer.Argument("champion", help="version number or alias to evaluate"),
    against: str | None = typer.Option(None, help="gate VERSION against this version/alias, e.g. champion"),
    data: Path | None = typer.Option(None, help="labelled CSV/Parquet; default: the churn held-out test split"),
    min_gain: float = typer.Option(0.0, help="gate: minimum AUC gain over the compared version"),
    model: str | None = typer.Option(None),
) -> None:
    """Evaluate a registered version: F1, AUC, precision, recall, Brier, calibration, per slice, bias."""
    from agent.cli.model_cmds import _load_data, _registry, resolve_version
    from ml_core.data.churn import load_churn, split_frame
    from ml_core.evaluation import evaluate as run_evaluation
    from ml_core.gate import GatePolicy, gate

    settings, reg = _registry()
    name = model or settings.model_name
    info = resolve_version(reg, name, version)
    frame = split_frame(load_churn(), seed=settings.seed).test if data is None else _load_data(data, False, settings)
    report = run_evaluation(reg.load(name, info.version), frame)
    table = Table(title=f"{name} v{info.version} on {len(frame)} labelled rows")
    table.add_column("slice")
    for key in ("auc", "f1", "precision", "recall", "brier", "ece"):
        table.add_column(key, justify="right")
    table.add_column("n", justify="right")
    table.add_row("overall", *[f"{report.overall[k]:.3f}" for k in ("auc", "f1", "precision", "recall", "brier",
                                                                      "ece")], str(int(report.overall["n"])))
    for s in report.slices:
        m = s.metrics
        table.add_row(f"{s.column}={s.value}", *[f"{m.get(k, float('nan')):.3f}" for k in
                                                 ("auc", "f1", "precision", "recall", "brier", "ece")], str(s.n))
    console.print(table)
    console.print(report.bias.summary())
    if against:
        other = resolve_version(reg, name, against)
        base = run_evaluation(reg.load(name, other.version), frame)
        verdict = gate(base, report, GatePolicy(min_gain=min_gain))
        colour = "green" if verdict.passed else "red"
        console.print(f"[bold {colour}]gate {'PASSED' if verdict.passed else 'FAILED'}[/] "
                      f"v{info.version} vs v{other.version}:")
        for reason in verdict.reasons:
            console.print(f"  - {reason}")
