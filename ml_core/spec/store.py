"""Spec files on disk: OPSAGENT_HOME/models/NAME.yaml, re-validated on every read."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from ml_core.paths import HomeLayout
from ml_core.spec.errors import SpecError
from ml_core.spec.model_spec import NAME_PATTERN, ModelSpec


def describe_errors(exc: ValidationError) -> str:
    """One line per problem, each naming the field by its path in the YAML (``columns.3.kind``)."""
    return "\n".join(f"  - {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                     for e in exc.errors())


def parse_spec(text: str, source: str) -> ModelSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with name, label and columns")
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(f"{source}: invalid model spec:\n{describe_errors(exc)}\n"
                        f"Fix the file, or re-create it with `opsagent models add`.") from exc


def dump_spec(spec: ModelSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True)


class SpecStore:
    """The specs of one home. Built-in models (the demo's churn) are written on first use, so they can be
    listed and edited like any other."""

    def __init__(self, layout: HomeLayout):
        self.layout = layout

    @property
    def directory(self) -> Path:
        return self.layout.models_dir

    def path(self, name: str) -> Path:
        import re

        if not re.fullmatch(NAME_PATTERN, name):
            raise SpecError(f"'{name}' is not a model name: use lower-case letters, digits, '-' and '_' "
                            "(at most 63 characters, starting with a letter or digit)")
        return self.directory / f"{name}.yaml"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def get(self, name: str) -> ModelSpec:
        path = self.path(name)
        if not path.exists():
            from ml_core.spec.builtin import builtin_spec

            spec = builtin_spec(name)
            if spec is None:
                known = ", ".join(self.names()) or "none yet"
                raise SpecError(f"no model '{name}' in {self.directory} (models: {known}); add it with "
                                f"`opsagent models add {name} --data FILE --label COLUMN`")
            return self.save(spec)
        spec = parse_spec(path.read_text(), str(path))
        if spec.name != name:
            raise SpecError(f"{path}: name: the file says '{spec.name}' but is named '{name}.yaml'; "
                            "make them the same")
        return spec

    def save(self, spec: ModelSpec) -> ModelSpec:
        path = self.path(spec.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(dump_spec(spec))
        tmp.replace(path)  # never a half-written spec
        return spec

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.yaml")) if self.directory.exists() else []

    def remove(self, name: str) -> Path:
        path = self.path(name)
        if not path.exists():
            raise SpecError(f"no spec for model '{name}' in {self.directory}")
        path.unlink()
        return path
