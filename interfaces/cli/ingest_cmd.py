"""`opsagent ingest` — send in predictions and delayed labels of a model served by another system."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from interfaces.cli.common import console, err_console, fail, load_settings, model_spec

SHOWN_ERRORS = 10

app = typer.Typer(
    help="Watch a model served elsewhere: send in its predictions and, later, its labels (CSV, Parquet or JSON "
    "Lines). Each record is validated against the model's spec; valid ones are kept, invalid ones reported. "
    "Example: opsagent ingest predictions preds.jsonl --model credit",
    no_args_is_help=True,
)

FILE_HELP = "a .csv, .parquet or .jsonl file (JSON Lines: one JSON object per line)"
MODEL_HELP = "model name, as in `opsagent models list` (default from settings)"


@app.command("predictions")
def predictions(
    file: Path = typer.Argument(..., help=FILE_HELP),
    model: str | None = typer.Option(None, help=MODEL_HELP),
    threshold: float | None = typer.Option(None, min=0.0, max=1.0, help="score at or above which a prediction is "
                                           "positive (default: the registered champion's threshold, else 0.5)"),
) -> None:
    """Add predictions made by your serving system to the model's prediction log.

    Fields: the record id (the spec's id column, or record_id), timestamp (unix seconds or ISO 8601),

    every feature column of the spec, score (positive-class probability), version, optional latency_ms.

    Exit code 2 when no record is valid or the file is unreadable; 0 with a warning when some were rejected.

    Example: opsagent ingest predictions preds.jsonl --model credit
    """
    _ingest("predictions", file, model, threshold)


@app.command("labels")
def labels(
    file: Path = typer.Argument(..., help=FILE_HELP),
    model: str | None = typer.Option(None, help=MODEL_HELP),
) -> None:
    """Add delayed labels (the true outcomes) for predictions already sent in or served.

    Fields: the record id, label (the spec's positive or negative value, or 1/0), optional timestamp.

    A later label for the same record replaces the earlier one.

    Example: opsagent ingest labels outcomes.csv --model credit
    """
    _ingest("labels", file, model, None)


def _ingest(kind: Literal["predictions", "labels"], file: Path, model: str | None, threshold: float | None) -> None:
    from ml_core.ingest import decision_threshold, ingest_labels, ingest_predictions
    from ml_core.ingest_read import IngestFileError, read_records
    from ml_core.predlog import PredictionLog

    settings = load_settings()
    spec = model_spec(settings, model)
    try:
        records = read_records(file, spec)
    except IngestFileError as exc:
        raise fail(str(exc)) from exc
    layout = settings.layout.ensure()
    with PredictionLog(layout.predictions_store(spec.name)) as log:
        if kind == "labels":
            result = ingest_labels(log, spec, records)
        else:
            cut = threshold if threshold is not None else decision_threshold(
                settings.open_registry(), spec.name)
            result = ingest_predictions(log, spec, records, threshold=cut)
    line = f"{spec.name}: {result.accepted} of {result.total} {kind} accepted, {result.rejected} rejected"
    for error in result.errors[:SHOWN_ERRORS]:
        err_console.print(f"  {error.describe()}")
    if len(result.errors) > SHOWN_ERRORS:
        err_console.print(f"  … and {len(result.errors) - SHOWN_ERRORS} more error(s)")
    if result.accepted == 0:
        raise fail(f"{line}: nothing was logged. Fix the records above and send the file again.")
    if result.rejected:
        err_console.print(f"[yellow]warning:[/] {line}; the rejected records were not logged (fix and resend them)")
    else:
        console.print(line)
