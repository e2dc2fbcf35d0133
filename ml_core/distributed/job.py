"""The files a torchrun job and its launcher share: the request every rank reads, the result rank 0 writes,
an error file per failed rank, and the progress lines rank 0 prints.

One directory per job (``JobFiles``): the launcher writes ``request.json`` and ``data.parquet``; rank 0
writes ``result.json`` after it registered the version; a rank that raises writes ``error-rank<N>.json``.
JSON, not pickle: a Kubernetes Job reads the same request from a volume, possibly from another image build.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ml_core.data.schema import Column, TableSchema
from ml_core.training import TrainConfig

PROGRESS_PREFIX = "@@opsagent-progress "  # a stdout line that starts with it carries one epoch's row as JSON
LAUNCH_TAG = "opsagent.launch"  # on the MLflow run and the version: which launch made them


def schema_to_dict(schema: TableSchema) -> dict[str, Any]:
    return asdict(schema)


def schema_from_dict(data: dict[str, Any]) -> TableSchema:
    columns = tuple(Column(**{**c, "categories": tuple(c.get("categories", ()))}) for c in data["columns"])
    return TableSchema(**{**data, "columns": columns, "slice_columns": tuple(data.get("slice_columns", ()))})


@dataclass
class JobRequest:
    """What every rank needs: the registry to write to (rank 0 only), the model, its schema and the config."""

    launch_id: str
    home: str
    tracking_uri: str
    model_name: str
    schema: TableSchema
    config: TrainConfig
    parent_version: str | None = None
    run_name: str | None = None
    with_baseline: bool = True
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        data = {**asdict(self), "schema": schema_to_dict(self.schema), "config": self.config.model_dump(mode="json")}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> JobRequest:
        data = json.loads(text)
        return cls(**{**data, "schema": schema_from_dict(data["schema"]),
                      "config": TrainConfig.model_validate(data["config"])})


class JobFiles:
    """Paths inside one job directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @property
    def request(self) -> Path:
        return self.root / "request.json"

    @property
    def data(self) -> Path:
        return self.root / "data.parquet"

    @property
    def result(self) -> Path:
        return self.root / "result.json"

    def error(self, rank: int) -> Path:
        return self.root / f"error-rank{rank}.json"

    def write_request(self, request: JobRequest, data: pd.DataFrame) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        data.to_parquet(self.data, index=False)
        self.request.write_text(request.to_json())

    def read_request(self) -> tuple[JobRequest, pd.DataFrame]:
        return JobRequest.from_json(self.request.read_text()), pd.read_parquet(self.data)

    def errors(self) -> list[dict[str, Any]]:
        """The error files the ranks left, lowest rank first."""
        found = sorted(self.root.glob("error-rank*.json"), key=lambda p: int(p.stem.removeprefix("error-rank")))
        return [json.loads(p.read_text()) for p in found]


def progress_line(epoch: int, total: int, row: dict[str, float]) -> str:
    return PROGRESS_PREFIX + json.dumps({"epoch": epoch, "total": total, "row": row})


def parse_progress(line: str) -> tuple[int, int, dict[str, float]] | None:
    """The epoch, total and row of a progress line; None for any other line (a library's warning)."""
    if not line.startswith(PROGRESS_PREFIX):
        return None
    try:
        data = json.loads(line[len(PROGRESS_PREFIX):])
        return int(data["epoch"]), int(data["total"]), dict(data["row"])
    except (ValueError, KeyError, TypeError):
        return None
