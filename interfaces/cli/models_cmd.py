"""`opsagent models add|list|show|remove`: the specs of the models this home watches (OPSAGENT_HOME/models).

`adopt` (an existing MLflow model as a version of a spec) joins this same Typer app from its own module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from interfaces.cli.common import JSON_HELP, UserError, console, load_settings, print_json

if TYPE_CHECKING:  # types only: keep --help free of pandas and MLflow
    from agent.settings import Settings
    from ml_core.spec.model_spec import ColumnSpec, ModelSpec

app = typer.Typer(help="Model specs: each watched model's table, label, SLOs, gate and drift settings, one YAML "
                  "file per model in OPSAGENT_HOME/models. Example: opsagent models add credit --data credit.csv "
                  "--label Status", no_args_is_help=True)


def _names(value: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None stays None (the default applies), ``""`` is an explicit empty list."""
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def _store(settings: Settings):
    from ml_core.spec.store import SpecStore

    return SpecStore(settings.layout.ensure())


@app.command("add")
def add(
    name: str = typer.Argument(..., help="the model's name: lower-case letters, digits, '-' and '_'"),
    data: Path = typer.Option(..., "--data", help="the training table: a CSV or Parquet file"),
    label: str = typer.Option(..., "--label", help="the column holding the outcome to predict"),
    positive: str | None = typer.Option(None, help="the label value the model scores (default: the rarer of "
                                        "two; required when the label has more than two values: one-vs-rest)"),
    id_column: str | None = typer.Option(None, "--id", help="the column that identifies a row (not a feature)"),
    slices: str | None = typer.Option(None, help="comma-separated categorical columns judged group by group "
                                      "(default: up to 3 small categoricals; \"\" for none)"),
    drop: str | None = typer.Option(None, help="comma-separated columns to leave out of the spec"),
    force: bool = typer.Option(False, "--force", help="replace an existing spec of that name"),
    as_yaml: bool = typer.Option(False, "--yaml", help="print the spec as YAML instead of a table"),
) -> None:
    """Infer a model's spec from a table (kinds, ranges, categories, nullable columns) and save it.

    Example: opsagent models add credit2 --data credit.csv --label Status --positive bad --id credit_id"""
    from ml_core.spec.infer import infer_spec, read_table
    from ml_core.spec.store import check_name, dump_spec

    check_name(name)
    settings = load_settings()
    store = _store(settings)
    if not force and (store.exists(name) or store.is_builtin(name)):
        what = "a built-in model" if store.is_builtin(name) else f"already a model ({store.path(name)})"
        raise UserError(f"'{name}' is {what}; pass --force to replace its spec, or choose another name")
    path = data.expanduser().resolve()
    with console.status(f"reading {path.name}…"):
        table = read_table(path)
        inferred = infer_spec(table, name, label=label, positive=positive, id_column=id_column,
                              slices=_names(slices), drop=_names(drop) or (), data=str(path))
    spec = store.save(inferred.spec)
    if as_yaml:
        console.print(escape(dump_spec(spec)), end="", highlight=False)
    else:
        show_summary(spec, store.path(name), rows=len(table))
    for note in inferred.notes:
        console.print(f"[cyan]note:[/] {escape(note)}")
    console.print(f"saved [bold]{escape(str(store.path(name)))}[/] (edit it freely; every command re-validates it)")
    console.print(f"next: [bold]opsagent train --model {name}[/]")


def _column_range(column: ColumnSpec) -> str:
    if column.kind == "categorical":
        shown = ", ".join(column.categories[:6])
        return f"{len(column.categories)}: {shown}{', …' if len(column.categories) > 6 else ''}"
    return "-" if column.low is None else f"{column.low:g} .. {column.high:g}"


def show_summary(spec: ModelSpec, path: Path, rows: int | None = None) -> None:
    """The spec as a person reads it: label, id, slices, then one row per column."""
    label = spec.label
    negative = label.negative or "every other value (one-vs-rest)"
    console.print(f"[bold]{spec.name}[/] — {escape(spec.description or spec.task)}"
                  f"{f', {rows} rows' if rows is not None else ''}")
    console.print(f"  label {escape(label.column)}: positive '{escape(label.positive)}', negative "
                  f"{escape(negative if label.negative is None else repr(negative))}")
    console.print(f"  id {escape(spec.id_column or '-')}   slices {escape(', '.join(spec.slices) or '-')}   "
                  f"data {escape(spec.data or '-')}")
    table = Table(title=f"{len(spec.columns)} feature columns")
    for heading in ("column", "kind", "range / categories", "nullable", "trained on"):
        table.add_column(heading)
    for c in spec.columns:
        table.add_row(escape(c.name), c.kind, escape(_column_range(c)), "yes" if c.nullable else "",
                      "no" if c.name in spec.exclude_from_training else "yes")
    console.print(table)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the models of this home: label, columns, data, and whether the registry has a champion.
    --json: an array of {name, champion (its version, or null), spec (the spec, or null when its file is
    invalid), error (what is wrong with the file, or null)}.

    Example: opsagent models list"""
    from ml_core.spec.errors import SpecError

    settings = load_settings()
    store = _store(settings)
    champion_of = _champion_lookup(settings)
    if as_json:
        print_json([_listing(store, name, champion_of(name)) for name in store.names()])
        return
    table = Table(title=f"models in {escape(str(store.directory))}")
    for heading in ("model", "source", "label → positive", "columns", "nullable", "data", "champion"):
        table.add_column(heading)
    for name in store.names():
        try:
            spec = store.get(name)
        except SpecError as exc:  # one broken file must not hide the others
            table.add_row(escape(name), "[red]invalid[/]", escape(_first_problem(exc)), "", "", "", "")
            continue
        nullable = [c.name for c in spec.columns if c.nullable]
        table.add_row(escape(name), spec.source, escape(f"{spec.label.column} → {spec.label.positive}"),
                      str(len(spec.columns)), escape(", ".join(nullable) or "-"), escape(spec.data or "-"),
                      champion_of(name))
    console.print(table)
    console.print("details: opsagent models show NAME   add one: opsagent models add NAME --data FILE --label COLUMN")


def _listing(store, name: str, champion: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """One model of `models list --json`: a broken spec file is listed with its problem, not skipped."""
    from ml_core.spec.errors import SpecError

    try:
        spec, error = store.get(name), None
    except SpecError as exc:
        spec, error = None, str(exc)
    return {"name": name, "champion": champion[1:] if champion.startswith("v") else None, "spec": spec,
            "error": error}


def _first_problem(exc: Exception) -> str:
    """The line of a SpecError that names the field (its first ``  - field: problem``), else its first line."""
    lines = str(exc).splitlines()
    problems = [line.strip().removeprefix("- ") for line in lines if line.startswith("  - ")]
    return problems[0] if problems else lines[0]


def _champion_lookup(settings: Settings):
    """name -> 'v3' / '-' / '?' (registry unreachable): a broken registry must not stop the listing."""
    try:
        registry = settings.open_registry()
    except Exception:  # any registry failure only blanks the champion column
        registry = None

    def champion(name: str) -> str:
        if registry is None:
            return "?"
        try:
            info = registry.alias(name, "champion")
        except Exception:  # likewise: "?" rather than no listing
            return "?"
        return f"v{info.version}" if info else "-"

    return champion


@app.command("show")
def show(name: str = typer.Argument(..., help="the model's name, as in `opsagent models list`"),
         as_table: bool = typer.Option(False, "--table", help="a readable table of columns instead of the YAML"),
         as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show a model's spec file (validated first; an invalid file is reported field by field). --json: the
    validated spec.

    Example: opsagent models show credit"""
    settings = load_settings()
    store = _store(settings)
    spec = store.get(name)
    if as_json:
        print_json(spec)
        return
    path = store.path(name)
    if as_table:
        show_summary(spec, path)
    else:
        console.print(escape(path.read_text(encoding="utf-8")), end="", highlight=False)
    console.print(f"file: {escape(str(path))}")


@app.command("remove")
def remove(name: str = typer.Argument(..., help="the model's name"),
           yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation")) -> None:
    """Remove a model's spec file. Its registry versions, prediction logs, incidents and deployment state are
    kept; a model whose service is running must be stopped first (`opsagent deploy stop --model NAME`).

    Example: opsagent models remove credit2 --yes"""
    settings = load_settings()
    store = _store(settings)
    path = store.path(name)
    if not path.exists():
        hint = " (a built-in model whose spec is not written yet)" if store.is_builtin(name) else ""
        raise UserError(f"no spec for model '{name}' in {store.directory}{hint}; see `opsagent models list`")
    if _service_running(settings, name):
        raise UserError(f"model '{name}' is being served; stop it first with `opsagent deploy stop --model {name}`")
    if not yes and not typer.confirm(f"remove {path}?", default=False):
        console.print("kept")
        raise typer.Exit(1)
    store.remove(name)
    console.print(f"removed {escape(str(path))}")
    console.print("kept: its registry versions (opsagent registry list), prediction logs, incidents and "
                  "deployment state; `opsagent models add` with the same name picks them up again")
    if store.is_builtin(name):
        console.print(f"'{name}' is built-in: its default spec is written again the next time it is used")


def _service_running(settings: Settings, name: str) -> bool:
    """Whether this model's local scoring service process is alive (its deployment state names a live pid)."""
    from ml_core.deploy.local import LocalBackend
    registry = settings.open_registry()
    return LocalBackend(settings.layout, name, registry).status().running
