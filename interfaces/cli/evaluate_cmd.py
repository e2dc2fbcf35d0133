"""`opsagent evaluate` — metrics, slices, bias check, and the champion-vs-challenger gate."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from interfaces.cli.common import UserError, console


def evaluate(
    version: str = typer.Argument("champion", help="version number or alias to evaluate"),
    against: str | None = typer.Option(None, help="gate VERSION against this version/alias, e.g. champion"),
    data: Path | None = typer.Option(None, help="labelled CSV/Parquet; default: the rows of the spec's data "
                                     "that no compared version was trained on"),
    min_gain: float = typer.Option(0.0, help="gate: minimum AUC gain over the compared version"),
    model: str | None = typer.Option(None),
) -> None:
    """Evaluate a registered version: F1, AUC, precision, recall, Brier, calibration, per slice, bias.

    Example: opsagent evaluate challenger --against champion --model credit"""
    from interfaces.cli.common import model_spec
    from interfaces.cli.model_cmds import _load_data
    from interfaces.cli.registry_cmds import _registry, resolve_version
    from ml_core.data.tables import customer_of
    from ml_core.evaluation import evaluate as run_evaluation
    from ml_core.gate import gate
    from ml_core.pipeline import training_ids
    from ml_core.spec.data import load_spec_data

    settings, reg = _registry()
    spec = model_spec(settings, model)
    schema, name = spec.schema, spec.name
    info = resolve_version(reg, name, version)
    other = resolve_version(reg, name, against) if against else None
    if data is None:
        # Judge models only on rows they never trained on, or the scores flatter them.
        frame = load_spec_data(spec)
        for v in [info] + ([other] if other else []):
            seen = training_ids(reg, name, v.version, schema)
            if seen is not None and schema.id_column:
                frame = frame[~customer_of(frame[schema.id_column]).isin(seen)]
        if len(frame) < 100:
            raise UserError(f"only {len(frame)} rows are unseen by the compared versions; pass --data")
    else:
        frame = _load_data(data, False, settings, spec)
    report = run_evaluation(reg.load(name, info.version), frame, schema)
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
    if other is not None:
        base = run_evaluation(reg.load(name, other.version), frame, schema)
        verdict = gate(base, report, spec.gate.model_copy(update={"min_gain": min_gain}))
        colour = "green" if verdict.passed else "red"
        console.print(f"[bold {colour}]gate {'PASSED' if verdict.passed else 'FAILED'}[/] "
                      f"v{info.version} vs v{other.version}:")
        for reason in verdict.reasons:
            console.print(f"  - {reason}")
