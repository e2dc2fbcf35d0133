"""`opsagent models adopt`: register a model you already have in MLflow (any pyfunc flavour) for opsagent to watch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape

from interfaces.cli.common import UserError, console, load_settings

if TYPE_CHECKING:  # types only: MLflow and pandas load when the command runs, not for --help
    import pandas as pd

    from ml_core.spec.model_spec import ModelSpec
    from ml_core.spec.store import SpecStore


def _existing_spec(store: SpecStore, name: str) -> ModelSpec | None:
    """The spec of ``name`` if there is one (a file, or a built-in); an invalid file is an error, not None."""
    return store.get(name) if store.exists(name) or store.is_builtin(name) else None


def _spec_and_data(store: SpecStore, name: str, data: Path | None, label: str | None, positive: str | None,
                   id_column: str | None, trainable: bool | None) -> tuple[ModelSpec, pd.DataFrame | None, list[str]]:
    """The spec to adopt under (existing, or inferred from ``data``) and the validated reference rows."""
    from ml_core.data.tables import load_table
    from ml_core.spec.infer import infer_spec, read_table
    from ml_core.spec.store import check_name

    check_name(name)  # a bad model name is reported before anything is read
    data = data.expanduser().resolve() if data is not None else None
    spec = _existing_spec(store, name)
    notes: list[str] = []
    if spec is None:
        if data is None or label is None:
            raise UserError(f"there is no spec for model '{name}', so opsagent cannot know its columns: pass "
                            "--data FILE --label COLUMN (a table the model scores, with its label) to infer one, "
                            f"or add the spec first with `opsagent models add {name} --data FILE --label COLUMN`")
        inferred = infer_spec(read_table(data), name, label=label, positive=positive, id_column=id_column,
                              data=str(data), source="adopted", trainable=bool(trainable))
        spec, notes = inferred.spec, inferred.notes
    else:
        if label is not None and label != spec.label.column:
            raise UserError(f"model '{name}' already has a spec whose label is '{spec.label.column}', not '{label}'; "
                            f"drop --label, or edit {store.path(name)}")
        update: dict[str, object] = {"source": "adopted"}
        if trainable is not None:
            update["trainable"] = trainable
        spec = spec.model_copy(update=update)
    frame = None if data is None else load_table(data, spec.schema).clean
    return spec, frame, notes


def adopt(
    name: str = typer.Argument(..., help="the model's name in opsagent (a new or an existing model)"),
    model_uri: str = typer.Option(..., "--model-uri", help="the MLflow model: runs:/RUN_ID/PATH, "
                                  "models:/NAME/VERSION, models:/NAME@ALIAS, models:/MODEL_ID or a local folder"),
    tracking_uri: str | None = typer.Option(None, "--tracking-uri", help="the MLflow tracking store the model is "
                                            "in (default: opsagent's own)"),
    data: Path | None = typer.Option(None, help="CSV/Parquet the model scores, with the label: saved as the "
                                     "monitoring reference and used to tune the threshold for F1 (required "
                                     "when NAME has no spec yet)"),
    label: str | None = typer.Option(None, help="label column in --data (required when NAME has no spec)"),
    positive: str | None = typer.Option(None, help="the label value the model's probability is for "
                                        "(default: the rarer class)"),
    id_column: str | None = typer.Option(None, "--id", help="a column of --data that identifies a row"),
    output_column: str | None = typer.Option(None, help="for a model that returns a table: the probability's "
                                             "column (default: 'probability', else the last column)"),
    trainable: bool | None = typer.Option(None, "--trainable/--no-trainable", help="may opsagent train new "
                                          "versions? (default for a new spec: no, your pipeline trains it)"),
) -> None:
    """Register an existing MLflow model as a new version of NAME, to serve, canary and watch it like
    opsagent's own. Its pyfunc output must be the positive-class probability (a 1-D array, a two-column
    predict_proba array, or a table column). The model is copied into opsagent's store.

    Example: opsagent models adopt credit-risk --model-uri models:/credit/3 --tracking-uri http://mlflow:5000
    --data loans.csv --label Status --positive bad
    """
    from ml_core.adopted import AdoptError
    from ml_core.adoption import adopt_version
    from ml_core.spec.store import SpecStore

    settings = load_settings()
    store = SpecStore(settings.layout.ensure())
    spec, frame, notes = _spec_and_data(store, name, data, label, positive, id_column, trainable)
    registry = settings.open_registry()
    try:
        result = adopt_version(registry, name, model_uri, schema=spec.schema, tracking_uri=tracking_uri,
                               data=frame, output_column=output_column)
    except AdoptError as exc:
        raise UserError(str(exc)) from exc
    store.save(spec)  # only once the model is in: a failed adoption leaves no spec behind
    v = result.version.version
    console.print(f"adopted {escape(model_uri)} as [bold]{name} v{v}[/] ({', '.join(result.flavors)}); "
                  f"spec {escape(str(store.path(name)))} (source adopted, trainable "
                  f"{'yes' if spec.trainable else 'no'})")
    for note in notes:
        console.print(f"[cyan]note:[/] {escape(note)}")
    if result.threshold_tuned and frame is not None:
        shown = ", ".join(f"{k} {result.metrics[k]:.3f}" for k in ("f1", "auc") if k in result.metrics)
        console.print(f"threshold {result.threshold:.2f} (F1-tuned on {len(frame)} rows of {escape(str(data))}: "
                      f"{shown}); those rows are v{v}'s monitoring reference")
    else:
        console.print(f"threshold {result.threshold:.2f} (the default: pass --data to tune it and to save a "
                      "monitoring reference)")
    console.print(f"next: opsagent deploy start {v} --model {name}")
