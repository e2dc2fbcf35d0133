"""The one error a bad spec or a bad table for a spec raises: its message says what to change."""

from __future__ import annotations

import re

from pydantic import ValidationError

from ml_core.spec.model_spec import NAME_PATTERN


class SpecError(ValueError):
    """A model spec (or the data it is built from) that cannot be used; the message names the field."""


def check_name(name: str) -> str:
    """``name`` when it can be a model's file, registry and URL name at once; else a SpecError saying how."""
    if not re.fullmatch(NAME_PATTERN, name):
        raise SpecError(f"'{name}' is not a model name: use lower-case letters, digits, '-' and '_' "
                        "(at most 63 characters, starting with a letter or digit)")
    return name


def _field_path(loc: tuple, data: object) -> str:
    """``columns.3 (Income).kind``: the YAML path, with the column's name where the file gives one."""
    parts: list[str] = []
    node = data
    for key in loc:
        part = str(key)
        node = node[key] if isinstance(node, dict) and key in node else (
            node[key] if isinstance(node, list) and isinstance(key, int) and key < len(node) else None)
        if isinstance(key, int) and isinstance(node, dict) and isinstance(node.get("name"), str):
            part += f" ({node['name']})"
        parts.append(part)
    return ".".join(parts) or "spec"


def describe_errors(exc: ValidationError, data: object = None) -> str:
    """One line per problem, each naming the field by its path in the YAML (``columns.3 (Income).kind``)."""
    lines = []
    for e in exc.errors():
        msg = e["msg"].removeprefix("Value error, ")
        given = e.get("input")
        if e["type"] in ("literal_error", "enum", "string_pattern_mismatch") or e["type"].endswith("_parsing"):
            msg += f" (the file has {given!r})"
        lines.append(f"  - {_field_path(tuple(e['loc']), data)}: {msg}")
    return "\n".join(lines)
