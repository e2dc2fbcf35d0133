"""The window's harm in decision terms: wrong decisions by kind among the labelled ones, and fallback answers.

F1 falling by 0.05 tells an ML engineer something; "212 churners were not flagged and 96 loyal customers were" tells
the people who act on the decisions. Counted from the prediction log's labelled rows (``predicted``, ``actual``,
``role``) and the window's answers (``role``): no model is scored again.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel, Field


class DecisionImpact(BaseModel):
    n_predictions: int = Field(description="answers in the window")
    n_labelled: int = Field(description="answers whose label has arrived")
    missed_positives: int = Field(description="labelled positives the model answered negative (false negatives)")
    false_alarms: int = Field(description="labelled negatives the model answered positive (false positives)")
    fallback_answers: int = Field(description="answers given by a fallback because the routed version failed")
    first_at: float | None = Field(None, description="the first answer's time in the window (unix seconds)")
    last_at: float | None = Field(None, description="the last answer's time in the window (unix seconds)")


def decision_impact(answers: pd.DataFrame, labelled: pd.DataFrame) -> DecisionImpact:
    """``answers``: the window's predictions (``ts``, ``role``); ``labelled``: its labelled ones (``predicted``,
    ``actual``, both 0/1)."""
    predicted = labelled["predicted"].astype(int) if len(labelled) else pd.Series(dtype=int)
    actual = labelled["actual"].astype(int) if len(labelled) else pd.Series(dtype=int)
    roles = answers["role"].astype(str) if "role" in answers and len(answers) else pd.Series(dtype=str)
    ts = answers["ts"] if "ts" in answers and len(answers) else pd.Series(dtype=float)
    return DecisionImpact(n_predictions=len(answers), n_labelled=len(labelled),
                          missed_positives=int(((predicted == 0) & (actual == 1)).sum()),
                          false_alarms=int(((predicted == 1) & (actual == 0)).sum()),
                          fallback_answers=int((roles == "fallback").sum()),
                          first_at=float(ts.min()) if len(ts) else None, last_at=float(ts.max()) if len(ts) else None)
