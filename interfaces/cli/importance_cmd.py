"""`opsagent registry importance`: how much a version relies on each input column, as a table, JSON or a chart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from interfaces.cli.common import JSON_HELP, UserError, console

if TYPE_CHECKING:  # types only: keep --help free of pandas and MLflow
    from ml_core.importance import FeatureImportance

PLOT_SUFFIXES = (".png",)
METRIC_NAMES = {"auc": "AUC", "log_loss": "log loss", "brier": "Brier score"}


def importance(
    version: str = typer.Argument("champion", help="version number or alias (champion, challenger)"),
    model: str | None = typer.Option(None, help="model name, as in `opsagent models list` (default from settings)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    plot: Path | None = typer.Option(None, "--plot", help="also write a horizontal bar chart to this .png file"),
    top: int = typer.Option(30, min=1, help="columns shown in the table and the chart (JSON has all)"),
) -> None:
    """Show how much a model version relies on each input column: permutation importance, i.e. how much its AUC
    drops when that column is shuffled, and each column's share of the total.

    Stored with every version opsagent trains (measured on its held-out test rows); for other versions it is
    measured on the training rows saved with them and cached. Example: opsagent registry importance 3 --model churn
    """
    from agent.context import OpsContext
    from interfaces.cli.common import err_console, load_settings, model_spec, print_json
    from interfaces.cli.registry_cmds import resolve_version
    from ml_core.importance import ImportanceError

    if plot is not None and plot.suffix.lower() not in PLOT_SUFFIXES:
        raise UserError(f"--plot writes a PNG image; give a file name ending in .png, not '{plot.name}'")
    settings = load_settings()
    spec = model_spec(settings, model)
    with OpsContext(settings) as ctx:
        info = resolve_version(ctx.registry, spec.name, version)
        try:
            with (err_console if as_json else console).status(f"reading the importance of {spec.name} "
                                                              f"v{info.version}…"):
                found = ctx.importance(spec.name, info.version)
        except ImportanceError as exc:
            raise UserError(str(exc)) from exc
    if plot is not None:
        write_plot(found, plot, title=f"{spec.name} v{info.version}", top=top)
    if as_json:
        print_json(found)
    else:
        show_table(found, spec.name, info.version, top)
    if plot is not None:
        (err_console if as_json else console).print(f"chart: {plot}")


def _measured(found: FeatureImportance, version: str) -> str:
    on = f"v{found.version}'s weights (v{version} shares them)" if found.version and found.version != version else ""
    rows = f"{found.n_rows} rows ({found.rows_from})" if found.rows_from else f"{found.n_rows} rows"
    return (f"{METRIC_NAMES[found.metric]} {found.base_metric:.4f} on {rows}, {found.repeats} shuffles per column"
            + (f"; measured on {on}" if on else ""))


def show_table(found: FeatureImportance, name: str, version: str, top: int) -> None:
    table = Table(title=f"{name} v{version} — feature importance")
    for column, justify in (("rank", "right"), ("feature", "left"), ("share", "right"),
                            (f"{METRIC_NAMES[found.metric]} drop", "right"), ("± std", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in found.features[:top]:
        table.add_row(str(f.rank), f.feature, f"{f.share:.1%}", f"{f.drop_mean:.4f}", f"{f.drop_std:.4f}")
    console.print(table)
    left = found.features[top:]
    if left:
        console.print(f"{len(left)} more columns, {sum(f.share for f in left):.1%} of the share together "
                      "(--top to show them, --json for all)")
    console.print(_measured(found, version))


def write_plot(found: FeatureImportance, path: Path, *, title: str, top: int) -> None:
    """A horizontal bar chart of the drops (most important on top), error bars at one std."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt

    shown = found.features[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.3 * len(shown)))
    try:
        ax.barh([f.feature for f in shown], [f.drop_mean for f in shown], xerr=[f.drop_std for f in shown],
                color="#4c72b0")
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel(f"{METRIC_NAMES[found.metric]} drop when the column is shuffled (error bar: one std)")
        ax.set_title(f"{title} — permutation importance ({found.n_rows} rows)")
        fig.tight_layout()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=110)
        except OSError as exc:
            raise UserError(f"cannot write the chart to {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(fig)
