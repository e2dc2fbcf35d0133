"""Which model a scenario's world watches: a built-in spec by name (``churn``, ``credit``) or a spec YAML file.

A scenario names its model in its ``model`` field; every world of that model starts from one champion trained
from the spec (its data, schema, excluded columns), and the scenario's faults are checked against its schema.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ml_core.spec.errors import SpecError
from ml_core.spec.model_spec import ModelSpec

DEFAULT_MODEL = "churn"


def is_spec_path(ref: str) -> bool:
    """A reference that names a file rather than a built-in spec."""
    return ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref


def resolve_spec(ref: str) -> ModelSpec:
    """The spec a scenario's ``model`` names, validated; a SpecError says what was wrong and what to give."""
    if is_spec_path(ref):
        return _spec_file(Path(ref).expanduser())
    return _builtin(ref)


@lru_cache(maxsize=8)
def _builtin(name: str) -> ModelSpec:
    # Cached: the credit spec is inferred from its table, and every scenario file of that model asks for it.
    from ml_core.spec.builtin import BUILTIN_SPECS, builtin_spec

    spec = builtin_spec(name)
    if spec is None:
        raise SpecError(f"model: no built-in model '{name}' (built-in: {', '.join(sorted(BUILTIN_SPECS))}); "
                        "or give the path of a spec YAML file (e.g. one `opsagent models add` wrote)")
    return spec


def _spec_file(path: Path) -> ModelSpec:
    from ml_core.spec.data import BUILTIN_PREFIX
    from ml_core.spec.store import parse_spec

    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"model: cannot read the spec file {path}: {exc.strerror or exc}") from exc
    spec = parse_spec(text, str(path))
    if spec.data and not spec.data.startswith(BUILTIN_PREFIX) and not Path(spec.data).expanduser().is_absolute():
        # A data file named relative to its spec, so a scenario folder with its spec and CSV can move as one.
        spec = spec.model_copy(update={"data": str((path.parent / spec.data).resolve())})
    return spec
