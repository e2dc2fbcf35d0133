"""`opsagent simulate SCENARIO` — replay customers against the running service, with faults."""

from __future__ import annotations

import typer
from rich.table import Table

from interfaces.cli.common import UserError, console, load_settings


def simulate(
    scenario: str = typer.Argument(..., help="built-in scenario name (no_fault, covariate_drift, concept_drift, "
                                   "label_shift, null_storm, schema_break, slow_release, broken_release) "
                                   "or a path to a scenario YAML file"),
    requests: int | None = typer.Option(None, min=1, help="override the scenario's request count"),
    rate: float | None = typer.Option(None, min=0.1, help="override requests per second"),
    labels: bool = typer.Option(True, help="deliver the delayed labels when the traffic ends"),
    model: str | None = typer.Option(None, help="model name (default from settings)"),
) -> None:
    """Send traffic to the deployed model (rows of its spec's data it never trained on); faults start after the
    scenario's onset. A scenario is checked against the model's columns.

    Example: opsagent simulate covariate_drift --requests 50   |   opsagent simulate my_drift.yaml --model credit"""
    from interfaces.cli.common import model_spec
    from interfaces.cli.deploy_cmd import backend
    from interfaces.cli.progress import count_bar
    from ml_core.data.tables import split_frame
    from ml_core.predlog import PredictionLog
    from ml_core.simulator.release import ship_faulty_release
    from ml_core.simulator.scenario import load_scenario
    from ml_core.simulator.traffic import deliver_labels, run_traffic
    from ml_core.spec.data import load_spec_data

    spec = load_scenario(scenario)
    updates = {k: v for k, v in {"requests": requests, "rate": rate}.items() if v is not None}
    spec = spec.model_copy(update=updates)
    settings = load_settings()
    model_of = model_spec(settings, model)
    spec.check_features(model_of.schema, model_of.name)
    b, registry = backend(model_of.name)
    status = b.status()
    if not status.ready or not status.url:
        why = status.ready_reason or status.detail or "not running"
        raise UserError(f"the '{b.model_name}' service is not ready ({why}); start it with `opsagent deploy start`")
    released = ship_faulty_release(spec, registry, b, b.model_name)
    if released and spec.release_fault is not None:
        console.print(f"shipped faulty release v{released} as canary ({spec.release_fault.kind})")
    # Rows unseen in training (the reference is the split's .train).
    pool = split_frame(load_spec_data(model_of), model_of.schema, seed=settings.seed).test
    with count_bar(f"[bold]simulating {spec.name}", spec.requests, console) as progress:
        result = run_traffic(status.url, spec, pool, schema=model_of.schema, progress=progress)
    if labels:
        with PredictionLog(settings.layout.predictions_store(b.model_name)) as log:
            delivered = deliver_labels(log, result)
    else:
        delivered = 0
    table = Table(title=f"traffic: {spec.name}", show_header=False)
    for key, value in result.summary().items():
        table.add_row(str(key), str(value))
    table.add_row("labels delivered", str(delivered))
    console.print(table)
    for err in result.errors[:3]:
        console.print(f"[yellow]request error:[/] {err}")
