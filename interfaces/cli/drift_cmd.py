"""`opsagent drift` — one monitoring check of recent traffic, with Evidently reports."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from interfaces.cli.common import JSON_HELP, console, err_console, load_settings, model_spec, print_json

SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan", "ok": "green"}


def drift(
    minutes: float = typer.Option(60.0, min=0.01, help="look at predictions from the last MINUTES"),
    report: bool = typer.Option(True, help="write Evidently HTML/JSON and PNG plots to OPSAGENT_HOME/reports"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    model: str | None = typer.Option(None, help="model name (default from settings)"),
) -> None:
    """Check data drift, prediction drift, performance (labelled and label-free), SLOs and data quality.

    Example: opsagent drift --model credit --minutes 30 --json"""
    from agent.context import OpsContext
    from ml_core.monitoring.check import summarise

    settings = load_settings()
    name = model_spec(settings, model).name
    # The spec's schema, drift thresholds and SLOs: the same check a scheduled triage of this model runs.
    with OpsContext(settings) as ctx, (err_console if as_json else console).status("checking recent traffic…"):
        watched = ctx.check_window(name, minutes=minutes, write_report=report)
    result = watched.result
    if result.n_rows == 0 and not as_json:
        console.print(f"no predictions for '{name}' in the last {minutes:g} minutes: nothing to check. Send traffic "
                      "(`opsagent simulate no_fault`) or widen `--minutes`.")
        return
    if as_json:
        print_json(result)
        return
    style = SEVERITY_STYLE.get(result.status, "")
    # The summary without its "not enough data" line: it is printed below, one line per column.
    console.print(f"[{style}]{result.status.upper()}[/] {name} v{watched.version}, {result.n_rows} predictions: "
                  f"{summarise(result.n_rows, result.findings)}")
    if result.findings:
        table = Table(title="findings")
        for col in ("severity", "kind", "subject", "message"):
            table.add_column(col)
        for f in result.findings:
            table.add_row(f"[{SEVERITY_STYLE.get(f.severity, '')}]{f.severity}[/]", f.kind, f.subject, f.message)
        console.print(table)
    if result.drift is not None:
        table = Table(title="feature drift (Evidently's default tests)")
        for col in ("feature", "test", "statistic", "threshold", "drifted"):
            table.add_column(col)
        for feat in sorted(result.drift.features, key=lambda x: not x.drifted):
            table.add_row(feat.name, feat.test, f"{feat.statistic:.4g}", f"{feat.threshold:g}",
                          "[red]yes[/]" if feat.drifted else "")
        console.print(table)
    for item in result.insufficient:  # no verdict and no finding for these
        console.print(f"[cyan]not enough data for {escape(item.name)}[/] ({item.check}, {item.n} rows): "
                      f"{escape(item.reason)}")
    if watched.report:
        console.print(f"Evidently report: {watched.report.html or watched.report.json_path}")
        for png in watched.report.plots:
            console.print(f"  plot: {png}")
