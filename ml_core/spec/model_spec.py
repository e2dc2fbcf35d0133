"""The pydantic model of a spec file. Everything below the CLI takes a model's schema from here.

Only binary classification exists today; ``task`` is a field so regression and multiclass can be added as
new values (with their own label section) without breaking the files people already have.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ml_core.data.schema import Column, TableSchema
from ml_core.gate import GatePolicy

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # a file name, a registry name and a URL segment at once


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    name: str = Field(min_length=1)
    kind: Literal["numeric", "integer", "categorical"]
    low: float | None = Field(default=None, description="smallest valid value (numeric and integer columns)")
    high: float | None = Field(default=None, description="largest valid value")
    categories: list[str] = Field(default_factory=list, description="the valid values (categorical columns)")
    nullable: bool = Field(default=False, description="nulls are expected (imputed); else a null is a finding")

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.kind == "categorical":
            if not self.categories:
                raise ValueError(f"categorical column '{self.name}' needs at least one category")
            if self.low is not None or self.high is not None:
                raise ValueError(f"categorical column '{self.name}' takes categories, not low/high")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"column '{self.name}' lists a category twice")
        else:
            if self.categories:
                raise ValueError(f"{self.kind} column '{self.name}' takes low/high, not categories")
            if (self.low is None) != (self.high is None):
                raise ValueError(f"column '{self.name}': give both low and high, or neither")
            if self.low is not None and self.high is not None and self.low > self.high:
                raise ValueError(f"column '{self.name}': low {self.low:g} is above high {self.high:g}")
        return self

    def column(self) -> Column:
        return Column(self.name, self.kind, self.low, self.high, tuple(self.categories), self.nullable)


class LabelSpec(_Strict):
    column: str = Field(min_length=1)
    positive: str = Field(min_length=1, description="the class whose probability the model scores")
    negative: str | None = Field(default=None, description="the other class; unset: every other value")

    @model_validator(mode="after")
    def _two_classes(self) -> LabelSpec:
        if self.negative is not None and self.positive == self.negative:
            raise ValueError(f"positive and negative class are both '{self.positive}'")
        return self


class SLOSpec(_Strict):
    """Per-model service levels; unset, the settings' values (OPSAGENT_SLO_*, OPSAGENT_LATENCY_BUDGET_MS)."""

    latency_budget_ms: float | None = Field(default=None, gt=0, description="per-request budget before fallback")
    p95_latency_ms: float | None = Field(default=None, gt=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)


class DriftSpec(_Strict):
    """Drift and data-quality thresholds (the monitoring check's defaults, stated per model)."""

    alpha: float = Field(default=0.01, gt=0, lt=0.5, description="family-wise false-alarm rate per check")
    dataset_share: float = Field(default=0.3, gt=0, le=1, description="drifted share that is dataset drift")
    max_null_share_increase: float = Field(default=0.05, ge=0, le=1,
                                           description="null share above the reference's that is a finding")
    min_rows: int = Field(default=30, ge=10, description="a window smaller than this is not tested")


class ModelSpec(_Strict):
    name: str = Field(pattern=NAME_PATTERN)
    task: Literal["binary_classification"] = "binary_classification"
    description: str = ""
    source: Literal["opsagent", "adopted", "external"] = Field(
        default="opsagent", description="trained by opsagent, adopted from MLflow, or served elsewhere")
    trainable: bool = Field(default=True, description="opsagent may train new versions (else: your pipeline)")
    data: str | None = Field(default=None, description="training data: a CSV/Parquet path or builtin:NAME")
    feature_set: Literal["plain", "churn"] = Field(
        default="plain", description="engineered features the preprocessor adds ('churn': the demo's)")
    exclude_from_training: list[str] = Field(
        default_factory=list, description="columns validated and watched but not fed to the model")
    label: LabelSpec
    id_column: str | None = None
    slices: list[str] = Field(default_factory=list, description="categorical columns judged slice by slice")
    columns: list[ColumnSpec] = Field(min_length=1)
    slo: SLOSpec = Field(default_factory=SLOSpec)
    gate: GatePolicy = Field(default_factory=GatePolicy)
    drift: DriftSpec = Field(default_factory=DriftSpec)

    @model_validator(mode="after")
    def _columns_fit(self) -> ModelSpec:
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"column(s) listed twice: {', '.join(dupes)}")
        for special, what in ((self.label.column, "the label"), (self.id_column, "the id column")):
            if special in names:
                raise ValueError(f"'{special}' is {what}; it cannot also be a feature column")
        kinds = {c.name: c.kind for c in self.columns}
        for c in self.exclude_from_training:
            if c not in kinds:
                raise ValueError(f"exclude_from_training: '{c}' is not one of the columns")
        for s in self.slices:
            if s not in kinds:
                raise ValueError(f"slice column '{s}' is not one of the columns")
            if kinds[s] != "categorical":
                raise ValueError(f"slice column '{s}' must be categorical, not {kinds[s]}")
        return self

    @property  # pydantic's deprecated BaseModel.schema() classmethod is not used anywhere in opsagent
    def schema(self) -> TableSchema:  # type: ignore[override]
        return TableSchema(columns=tuple(c.column() for c in self.columns), label=self.label.column,
                           positive_label=self.label.positive, negative_label=self.label.negative,
                           id_column=self.id_column, slice_columns=tuple(self.slices),
                           feature_set=self.feature_set)


def spec_from_schema(name: str, schema: TableSchema, **fields: object) -> ModelSpec:
    """A spec holding an existing TableSchema (the demo's churn table), with the defaults for the rest."""
    columns = [ColumnSpec(name=c.name, kind=c.kind, low=c.low, high=c.high, categories=list(c.categories),
                          nullable=c.nullable) for c in schema.columns]
    return ModelSpec.model_validate({
        "name": name, "columns": columns, "id_column": schema.id_column, "slices": list(schema.slice_columns),
        "label": {"column": schema.label, "positive": schema.positive_label, "negative": schema.negative_label},
        "feature_set": schema.feature_set, **fields})
