"""Read a file of predictions or labels (CSV, Parquet, JSON Lines) into plain records, one dict per row.

Nothing is validated here beyond the file itself: ``ml_core.ingest`` checks every record against the spec.
The records come out as JSON would have them — Python ``str``/``int``/``float``/``None`` — so a file and an
HTTP batch go through one validator. CSV cells are text; a cell is turned into a number only where the spec
(or the record layout) expects one, so one bad cell rejects its row, not the whole column.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ml_core.spec.model_spec import ModelSpec

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".json": "jsonl"}
NUMERIC_FIELDS = frozenset({"score", "latency_ms"})  # besides the spec's numeric and integer columns


class IngestFileError(ValueError):
    """A file that cannot be read at all (missing, empty, not the format its name says); says what to do."""


@dataclass(frozen=True)
class Malformed:
    """A row the reader could not turn into a record (a JSON Lines line that is not a JSON object)."""

    detail: str


def file_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise IngestFileError(f"{path}: unknown file type '{path.suffix}'; use .csv, .parquet or .jsonl "
                              "(JSON Lines: one JSON object per line)")
    return fmt


def read_records(path: Path, spec: ModelSpec) -> list[dict[str, Any] | Malformed]:
    """The file's rows as records, in file order; raises ``IngestFileError`` when the file is unreadable."""
    path = Path(path)
    fmt = file_format(path)
    if not path.exists():
        raise IngestFileError(f"file not found: {path}")
    if path.is_dir():
        raise IngestFileError(f"{path} is a folder; give a {fmt.upper()} file")
    try:
        if fmt == "jsonl":
            records = _read_jsonl(path)
        elif fmt == "parquet":
            records = [_native(r) for r in pd.read_parquet(path).to_dict("records")]
        else:
            records = _read_csv(path, spec)
    except IngestFileError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise IngestFileError(f"{path} is empty: it needs a header row and at least one record") from exc
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # the parsers' errors: the user's file, not our bug
        raise IngestFileError(f"could not read {path} as {fmt.upper()}: {exc}") from exc
    except Exception as exc:  # pyarrow raises its own types for a corrupt Parquet file
        raise IngestFileError(f"could not read {path} as {fmt.upper()}: {type(exc).__name__}: {exc}") from exc
    if not records:
        raise IngestFileError(f"{path} holds no records")
    return records


def _read_jsonl(path: Path) -> list[dict[str, Any] | Malformed]:
    records: list[dict[str, Any] | Malformed] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue  # a trailing blank line is not a record
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                records.append(Malformed(f"not valid JSON: {exc.msg} at column {exc.colno}"))
                continue
            records.append(value if isinstance(value, dict) else Malformed("the line is not a JSON object"))
    return records


def _read_csv(path: Path, spec: ModelSpec) -> list[dict[str, Any] | Malformed]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=True)  # text first: a bad cell must not retype a column
    numeric = NUMERIC_FIELDS | {c.name for c in spec.columns if c.kind != "categorical"}
    records: list[dict[str, Any] | Malformed] = []
    for raw in frame.to_dict("records"):
        records.append({str(k): _cell(v, str(k) in numeric) for k, v in raw.items()})
    return records


def _cell(value: Any, numeric: bool) -> Any:
    """A CSV cell as JSON would carry it: None for an empty cell, a number where one is expected and it parses."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if not numeric:
        return text
    try:
        number = float(text)
    except ValueError:
        return text  # left as text: the validator reports it as the wrong type, for this row only
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def _native(record: dict[Any, Any]) -> dict[str, Any]:
    """A Parquet row with NaN as None and dates as ISO text (pandas already gives Python scalars)."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            out[str(key)] = None
        elif isinstance(value, datetime | date):
            out[str(key)] = value.isoformat()
        elif isinstance(value, str | int | float | bool):
            out[str(key)] = value
        elif hasattr(value, "item"):  # a numpy scalar pandas left boxed
            out[str(key)] = value.item()
        else:
            out[str(key)] = value
    return out
