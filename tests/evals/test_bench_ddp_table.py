"""bench_ddp's synthetic table: valid against the spec, and no customer on both sides of the split."""

from __future__ import annotations

from evals.bench_ddp import synthetic_table
from ml_core.data.tables import customer_of, split_frame
from ml_core.data.validation import validate_frame
from ml_core.spec.builtin import builtin_spec


def test_synthetic_table_is_valid_and_splits_by_customer(churn_df):
    spec = builtin_spec("churn")
    assert spec is not None
    table = synthetic_table(churn_df, spec.schema, 12_000, seed=0)
    assert len(table) == 12_000 and table[spec.schema.id_column].is_unique
    assert len(validate_frame(table, spec.schema, require_label=True, quarantine=True).clean) == 12_000
    split = split_frame(table, spec.schema, seed=7)
    train = set(customer_of(split.train[spec.schema.id_column]))
    assert train.isdisjoint(customer_of(split.test[spec.schema.id_column]))
    assert len(train) <= 5_000  # copies of the same customers: the table's relations, not new ones
