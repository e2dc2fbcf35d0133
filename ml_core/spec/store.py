"""Spec files on disk: OPSAGENT_HOME/models/NAME.yaml, re-validated on every read."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from ml_core.atomic_file import write_text_atomic
from ml_core.paths import HomeLayout
from ml_core.spec.errors import SpecError, check_name, describe_errors
from ml_core.spec.model_spec import ModelSpec

__all__ = ["SpecStore", "check_name", "describe_errors", "dump_spec", "parse_spec"]

# libyaml's parser where PyYAML was built with it: the same documents, errors and marks, ten times faster — a
# spec is re-read on every use (a person may edit it between two ticks), several times a triage.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_spec(text: str, source: str) -> ModelSpec:
    """A spec from YAML text; a SpecError naming ``source`` and each bad field otherwise."""
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecError(f"{source}: not valid YAML{where}: {problem}\nFix the file, or re-create it with "
                        "`opsagent models add NAME --data FILE --label COLUMN --force`.") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with name, label and columns, found "
                        f"{'nothing' if data is None else type(data).__name__}")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: invalid model spec:\n{describe_errors(exc, data)}\n"
                        f"Fix the file, or re-create it with `opsagent models add ... --force`.") from exc


SPEC_HEADER = ("# opsagent model spec. Edit freely: every command re-validates it and names the field that is wrong.\n"
               "# slo values left null use the settings' defaults (OPSAGENT_SLO_*, OPSAGENT_LATENCY_BUDGET_MS).\n")


def dump_spec(spec: ModelSpec) -> str:
    """The spec as YAML that is pleasant to edit: only the fields a column's kind takes, and unset SLOs shown
    as null so their names are visible. ``parse_spec(dump_spec(s)) == s``."""
    data = spec.model_dump(mode="json", exclude_none=True)
    for column in data["columns"]:
        if not column.get("categories"):
            column.pop("categories", None)
        if column["kind"] == "integer":  # 0 and 96, not 0.0 and 96.0 (they parse back to the same floats)
            column.update({k: int(column[k]) for k in ("low", "high") if k in column and column[k].is_integer()})
    data["slo"] = spec.slo.model_dump(mode="json")
    return SPEC_HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


class SpecStore:
    """The specs of one home. Built-in models (the demo's churn) are written on first use, so they can be
    listed and edited like any other."""

    def __init__(self, layout: HomeLayout):
        self.layout = layout

    @property
    def directory(self) -> Path:
        return self.layout.models_dir

    def path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}.yaml"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def get(self, name: str) -> ModelSpec:
        path = self.path(name)
        if not path.exists():
            from ml_core.spec.builtin import builtin_spec

            spec = builtin_spec(name)
            if spec is None:
                known = ", ".join(self.names())
                raise SpecError(f"no model '{name}' in {self.directory} (models: {known}); add it with "
                                f"`opsagent models add {name} --data FILE --label COLUMN`")
            return self.save(spec)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{path}: cannot read the spec: {exc}") from exc
        spec = parse_spec(text, str(path))
        if spec.name != name:
            raise SpecError(f"{path}: name: the file says '{spec.name}' but is named '{name}.yaml'; "
                            "make them the same")
        return spec

    def save(self, spec: ModelSpec) -> ModelSpec:
        write_text_atomic(self.path(spec.name), dump_spec(spec))  # never a half-written spec
        return spec

    def names(self) -> list[str]:
        """Every model this home can use: the spec files, and the built-ins (written on first ``get``)."""
        from ml_core.spec.builtin import BUILTIN_SPECS

        files = {p.stem for p in self.directory.glob("*.yaml")} if self.directory.exists() else set()
        return sorted(files | set(BUILTIN_SPECS))

    def is_builtin(self, name: str) -> bool:
        from ml_core.spec.builtin import BUILTIN_SPECS

        return name in BUILTIN_SPECS

    def remove(self, name: str) -> Path:
        path = self.path(name)
        if not path.exists():
            raise SpecError(f"no spec for model '{name}' in {self.directory}")
        path.unlink()
        return path
