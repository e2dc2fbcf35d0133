"""The drift tests by name: the five the fast screen runs, and every one Evidently 0.7 may report.

Evidently names a test in its report by a display name ("K-S p_value", "Absolute text content drift"); its
registry (``evidently/legacy/calculations/stattests/registry.py``, one ``StatTest(name=..., display_name=...)``
per module beside it) maps each to a short id. The default preset chooses among seven of them (the screen's
five and the two text tests, for a column typed text); the others appear when a report is run with a method
set. A display name this table does not know (a custom test function, a newer Evidently) is kept as
reported under the id ``other``, never an error: a report is evidence for people, and an unknown name in it
is no reason to lose the rest. ``tests/ml_core/test_low_traffic.py`` checks this table against the
installed registry.
"""

from __future__ import annotations

from typing import Literal, get_args

ScreenTest = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon"]
EvidentlyTest = Literal[
    "ks", "chisquare", "z", "wasserstein", "jensenshannon", "anderson", "cramer_von_mises", "ed", "es",
    "fisher_exact", "g_test", "hellinger", "kl_div", "mannw", "empirical_mmd", "psi", "t_test",
    "perc_text_content_drift", "abs_text_content_drift", "TVD", "other"]

SCREEN_TESTS: tuple[str, ...] = get_args(ScreenTest)

# Evidently's display name -> its registered id (the StatTest's ``name``).
EVIDENTLY_DISPLAY_NAMES: dict[str, EvidentlyTest] = {
    "K-S p_value": "ks", "chi-square p_value": "chisquare", "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein", "Jensen-Shannon distance": "jensenshannon",
    "Anderson-Darling": "anderson", "Cramer-von Mises": "cramer_von_mises", "Energy-distance": "ed",
    "Epps-Singleton": "es", "Fisher's Exact test": "fisher_exact", "g_test": "g_test",
    "Hellinger distance": "hellinger", "Kullback-Leibler divergence": "kl_div",
    "Mann-Whitney U-rank test": "mannw", "empirical_mmd": "empirical_mmd", "PSI": "psi", "t_test": "t_test",
    "Percentile text content drift": "perc_text_content_drift",
    "Absolute text content drift": "abs_text_content_drift", "Total-Variation-Distance": "TVD",
}
TEXT_TESTS = frozenset({"perc_text_content_drift", "abs_text_content_drift"})


def evidently_test_id(display_name: str) -> EvidentlyTest:
    """The registered id of a test Evidently reports by ``display_name``; ``other`` for one it does not know
    (the display name itself is kept beside it, see ``FeatureDrift.method``)."""
    if display_name in EVIDENTLY_DISPLAY_NAMES:
        return EVIDENTLY_DISPLAY_NAMES[display_name]
    ids = get_args(EvidentlyTest)
    return display_name if display_name in ids else "other"  # type: ignore[return-value]
