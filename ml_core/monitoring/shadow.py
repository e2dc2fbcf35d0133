"""Shadow evaluation of a release: the version it replaced (or runs beside) scores the same records, and the two
are compared decision by decision.

Monitoring compares a window with the serving version's *own* test metrics, which a bad model matches; a release
is judged instead against the version it replaced, **on the same traffic**:

* with labels — an exact one-sided McNemar test on the labelled records the release decided: ``b`` records only
  the release got wrong, ``c`` only the baseline got wrong; under "the release is as good" each discordant
  record is a fair coin, so P(X >= b | b + c, 1/2) < ``alpha`` blames the release with a false-alarm rate of
  ``alpha`` per check (default 0.01: a release as good as the one it replaced is blamed about once in a hundred
  checks). Records both versions decide alike carry no information about which is better, so they do not dilute
  the test the way a comparison of two F1 scores would;
* before labels — the two versions' disagreement, and the release's F1 *estimated with the baseline's calibrated
  scores as soft labels* (the assumption the label-free CBPE estimate already makes) against the baseline's own
  estimated F1 on the same records. A drop of at least ``max_drop`` — the drop that raises an alarm on a champion's
  own estimate — marks the release as estimated worse. The baseline is only a fair judge while the inputs have not
  drifted, which the policy checks before it acts on the estimate.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy import stats

from ml_core.data.schema import TableSchema

MIN_LABELLED = 30  # fewer labelled records than this: too few discordant pairs for the test to reach 0.01
MIN_ROWS_ESTIMATE = 100  # the label-free estimate's minimum, as for the champion's own CBPE estimate


class ShadowComparison(BaseModel):
    """A release against its baseline on the records the release decided in one window."""

    release: str = Field(description="the version that went live")
    baseline: str = Field(description="the version it replaced (a promotion) or runs beside (a canary)")
    how: Literal["canary", "promoted", "registered"]
    n: int = Field(description="records the release decided and the baseline scored in the shadow")
    disagreement: float = Field(description="share of those records the two versions decide differently")
    n_labelled: int = 0
    release_only_wrong: int = Field(0, description="McNemar b: labelled records only the release got wrong")
    baseline_only_wrong: int = Field(0, description="McNemar c: labelled records only the baseline got wrong")
    p_value: float | None = Field(None, description="one-sided exact McNemar p-value that the release is worse")
    release_f1: float | None = None
    baseline_f1: float | None = None
    estimated_release_f1: float | None = Field(None, description="release decisions scored by the baseline's "
                                               "probabilities (label-free)")
    estimated_baseline_f1: float | None = None
    alpha: float = 0.01
    max_drop: float = 0.08
    worse: bool = Field(False, description="with labels: significantly more errors than the baseline")
    estimated_worse: bool = Field(False, description="before labels: estimated F1 down by max_drop or more")


def _f1(decided: np.ndarray, actual: np.ndarray) -> float:
    tp = float(((decided == 1) & (actual == 1)).sum())
    wrong = float((decided != actual).sum())
    return 2 * tp / (2 * tp + wrong) if tp + wrong else 1.0


def _soft_f1(decided: np.ndarray, p: np.ndarray) -> float:
    """Expected F1 of ``decided`` when record i is positive with probability p[i] (ratio of expectations)."""
    tp, fp, fn = float((p * decided).sum()), float(((1 - p) * decided).sum()), float((p * (1 - decided)).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def mcnemar_worse(release_wrong: np.ndarray, baseline_wrong: np.ndarray) -> tuple[int, int, float]:
    """(b, c, one-sided exact p-value that the release errs more often than the baseline on the same records)."""
    b = int((release_wrong & ~baseline_wrong).sum())
    c = int((~release_wrong & baseline_wrong).sum())
    p = float(stats.binom.sf(b - 1, b + c, 0.5)) if b + c else 1.0
    return b, c, p


def compare(release_rows: pd.DataFrame, baseline_scores: np.ndarray, baseline_threshold: float, *, release: str,
            baseline: str, how: Literal["canary", "promoted", "registered"], actual: pd.Series | None = None,
            alpha: float = 0.01, max_drop: float = 0.08) -> ShadowComparison:
    """Compare the release's decisions (``release_rows``: its ``label`` column, one row per record it decided) with
    the baseline's decisions on the same records (``baseline_scores`` at ``baseline_threshold``). ``actual``: the
    labels that arrived, indexed like ``release_rows`` (NaN where none has)."""
    decided = release_rows["label"].to_numpy(int)
    p = np.clip(np.asarray(baseline_scores, float), 0.0, 1.0)
    shadow = (p >= baseline_threshold).astype(int)
    out = ShadowComparison(release=release, baseline=baseline, how=how, n=len(decided), alpha=alpha,
                           max_drop=max_drop, disagreement=float((decided != shadow).mean()) if len(decided) else 0.0)
    if len(decided) >= MIN_ROWS_ESTIMATE:
        out.estimated_release_f1, out.estimated_baseline_f1 = _soft_f1(decided, p), _soft_f1(shadow, p)
        out.estimated_worse = out.estimated_baseline_f1 - out.estimated_release_f1 >= max_drop
    if actual is not None:
        known = actual.notna().to_numpy()
        y = actual.to_numpy()[known].astype(int)
        out.n_labelled = int(known.sum())
        if out.n_labelled >= MIN_LABELLED:
            r, s = decided[known], shadow[known]
            out.release_only_wrong, out.baseline_only_wrong, out.p_value = mcnemar_worse(r != y, s != y)
            out.release_f1, out.baseline_f1 = _f1(r, y), _f1(s, y)
            out.worse = out.p_value < alpha
    return out


def release_rows(window: pd.DataFrame, release: str, how: str) -> pd.DataFrame:
    """The records the release itself decided (not a fallback that answered for it)."""
    if not len(window):
        return window
    mine = window["version"].astype(str) == str(release)
    if "role" in window:
        mine &= window["role"].astype(str) != "fallback"
        if how == "canary":
            mine &= window["role"].astype(str) == "canary"
    return window[mine]


def shadow_compare(window: pd.DataFrame, labelled: pd.DataFrame, baseline_model, schema: TableSchema, *,
                   release: str, baseline: str, how: Literal["canary", "promoted", "registered"],
                   alpha: float = 0.01, max_drop: float = 0.08) -> ShadowComparison | None:
    """Score the release's records in ``window`` (``PredictionLog.predictions()``) with ``baseline_model`` and
    compare; ``labelled`` is ``PredictionLog.labelled()`` over the same window. None when the release decided
    nothing in the window."""
    rows = release_rows(window, release, how)
    features = [c for c in schema.feature_names if c in rows.columns]
    if not len(rows) or len(features) < len(schema.feature_names):
        return None
    scores = baseline_model.predict_proba(rows[features])
    actual = None
    if labelled is not None and len(labelled):
        by_id = labelled.drop_duplicates("record_id").set_index("record_id")["actual"]
        actual = rows["record_id"].map(by_id)
        actual.index = rows.index
    return compare(rows, scores, baseline_model.threshold, release=release, baseline=baseline, how=how,
                   actual=actual, alpha=alpha, max_drop=max_drop)
