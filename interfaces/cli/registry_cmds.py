"""`opsagent registry`: the MLflow model registry's versions, aliases and lineage."""

from __future__ import annotations

import typer
from rich.table import Table

from interfaces.cli.common import JSON_HELP, UserError, console, load_settings, print_json

registry_app = typer.Typer(help="Inspect the MLflow model registry: versions, aliases, lineage.",
                           no_args_is_help=True)


def _registry():
    settings = load_settings()
    return settings, settings.open_registry()


@registry_app.command("list")
def registry_list(model: str | None = typer.Argument(None, help="model name; default from settings"),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the versions of a model with aliases, tags and metrics. --json: an array of versions (name,
    version, run_id, aliases, tags, created_ms); [] when there is none."""
    settings, reg = _registry()
    name = model or settings.model_name
    versions = reg.versions(name)
    if as_json:
        print_json(versions)
        return
    if not versions:
        console.print(f"no versions of '{name}' yet — run `opsagent train` first")
        return
    table = Table(title=f"{name}")
    for col in ("version", "aliases", "ready", "test AUC", "test F1", "parent", "run id"):
        table.add_column(col)
    for v in versions:
        table.add_row(v.version, ", ".join(v.aliases), "yes" if v.ready_for_deploy else "",
                      v.tags.get("test_auc", ""), v.tags.get("test_f1", ""), v.tags.get("parent_version", ""),
                      (v.run_id or "")[:12])
    console.print(table)


@registry_app.command("show")
def registry_show(version: str = typer.Argument(..., help="version number or alias (champion, challenger)"),
                  model: str | None = typer.Option(None),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show one version's lineage: data fingerprint, parent version, training run. --json: the version (its
    tags hold the lineage: data_fingerprint, parent_version, test metrics, ready_for_deploy)."""
    settings, reg = _registry()
    name = model or settings.model_name
    info = resolve_version(reg, name, version)
    if as_json:
        print_json(info)
        return
    for key, value in reg.lineage(name, info.version).items():
        console.print(f"[bold]{key:>17}[/] {value or '-'}")
    console.print(f"[bold]{'aliases':>17}[/] {', '.join(info.aliases) or '-'}")
    console.print(f"[bold]{'ready_for_deploy':>17}[/] {info.ready_for_deploy}")


@registry_app.command("alias")
def registry_alias(version: str = typer.Argument(...), alias: str = typer.Argument(..., help="e.g. champion"),
                   model: str | None = typer.Option(None)) -> None:
    """Point an alias at a version (this only moves the registry pointer; use `deploy` to route traffic)."""
    settings, reg = _registry()
    name = model or settings.model_name
    info = resolve_version(reg, name, version)
    reg.set_alias(name, alias, info.version)
    console.print(f"{name}@{alias} → v{info.version}")


def resolve_version(reg, name: str, ref: str):
    """A version number or an alias → VersionInfo, with a clear error."""
    if ref.isdigit():
        return reg.version(name, ref)
    info = reg.alias(name, ref)
    if info is None:
        raise UserError(f"model '{name}' has no alias '{ref}'; use a version number or champion/challenger")
    return info
