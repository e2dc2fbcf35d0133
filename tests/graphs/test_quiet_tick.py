"""A quiet scheduled tick is cheap: no Evidently report for a window without findings, one for a window with them;
what is a pure function of the champion's version is cached, bounded, and a new champion gets its own."""

from __future__ import annotations

import time

import pytest

from agent.context import OpsContext
from agent.settings import Settings
from graphs.signals import gather_monitoring
from ml_core.data.churn import CHURN_SCHEMA
from ml_core.data.tables import split_frame
from ml_core.jobs import train_and_register
from ml_core.predlog import PredictionLog, PredictionRow
from ml_core.registry import CHAMPION
from ml_core.training import TrainConfig
from ml_core.version_cache import VersionCache, disabled
from ml_core.watch import check_window, load_reference, monitoring_profiles
from tests.conftest import make_champion_home

QUIET, DRIFTED = (-3000.0, -2000.0), (-1000.0, 0.0)  # the two windows, in seconds before the fixture's "now"


@pytest.fixture(scope="module")
def home(tmp_path_factory, churn_df):
    """churn v1 champion; its log holds held-out traffic in the QUIET window and the same rows with day minutes
    +80 in the DRIFTED one."""
    layout, registry, job = make_champion_home(tmp_path_factory.mktemp("tick"), churn_df, epochs=2)
    model = registry.load("churn", job.version)
    rows = split_frame(churn_df, CHURN_SCHEMA).test.sample(1000, replace=True, random_state=0).reset_index(drop=True)
    now = time.time()
    with PredictionLog(layout.predictions_db("churn")) as log:
        drifted = rows.assign(total_day_minutes=rows.total_day_minutes + 80)
        for (start, _end), frame in ((QUIET, rows), (DRIFTED, drifted)):
            scores = model.predict_proba(frame)
            feats = frame[CHURN_SCHEMA.feature_names].to_dict("records")
            log.write_predictions([PredictionRow(f"q{start}{i}", f"r{start}{i}", now + start + i * 0.5, "churn",
                                                 job.version, "champion", None, None, float(scores[i]),
                                                 int(scores[i] >= model.threshold), 12.0, feats[i])
                                   for i in range(len(frame))])
    return layout, registry, job.version, now


def watch(home, window: tuple[float, float], write_report):
    layout, registry, _version, now = home
    return check_window(layout, registry, "churn", since=now + window[0], until=now + window[1],
                        reference=load_reference(registry, "churn", CHURN_SCHEMA), write_report=write_report,
                        schema=CHURN_SCHEMA)


def reports(layout) -> set:
    return set(layout.reports_dir.rglob("*")) if layout.reports_dir.exists() else set()


def test_quiet_window_writes_no_report_and_a_drifted_one_does(home):
    before = reports(home[0])
    quiet = watch(home, QUIET, "findings")
    assert quiet.result.n_rows == 1000 and quiet.result.findings == [] and quiet.report is None
    assert reports(home[0]) == before
    drifted = watch(home, DRIFTED, "findings")
    assert "total_day_minutes" in drifted.result.drifted_features
    assert drifted.report is not None and drifted.report.html and drifted.report.html.exists()
    asked = watch(home, QUIET, True)  # a person asking (``opsagent drift``) gets the report on any window
    assert asked.report is not None and asked.result.findings == []


def test_scheduled_triage_skips_the_report_on_a_quiet_window_and_links_it_on_a_drifted_one(home):
    layout, _registry, _version, now = home
    ctx = OpsContext(Settings(home=layout.home), via="test", actor="tester")
    before = reports(layout)
    quiet = gather_monitoring(ctx, "churn", now + QUIET[0], now + QUIET[1])
    assert quiet["n_rows"] == 1000 and quiet["findings"] == []
    assert quiet["report_dir"] is None and "report_html" not in quiet and reports(layout) == before
    drifted = gather_monitoring(ctx, "churn", now + DRIFTED[0], now + DRIFTED[1])
    assert drifted["findings"] and drifted["report_html"] and drifted["report_dir"]


def test_reference_is_cached_per_version_and_a_new_champion_gets_its_own(home, churn_df):
    layout, registry, version, _now = home
    first = load_reference(registry, "churn", CHURN_SCHEMA)
    assert load_reference(registry, "churn", CHURN_SCHEMA) is first
    assert monitoring_profiles(first, CHURN_SCHEMA) is monitoring_profiles(first, CHURN_SCHEMA)
    with disabled():
        assert load_reference(registry, "churn", CHURN_SCHEMA) is not first
    job = train_and_register(registry, churn_df, TrainConfig(epochs=1, exclude_columns=("state",)), model_name="churn",
                             schema=CHURN_SCHEMA, with_baseline=False)
    registry.set_alias("churn", CHAMPION, job.version)
    try:
        second = load_reference(registry, "churn", CHURN_SCHEMA)
        assert second.version == job.version != version and second is not first
        assert load_reference(registry, "churn", CHURN_SCHEMA, version=version) is first
    finally:
        registry.set_alias("churn", CHAMPION, version)


def test_version_cache_is_bounded_least_recently_used_out():
    cache: VersionCache[int] = VersionCache(2)
    made: list[str] = []

    def make(key: str):
        return lambda: made.append(key) or len(made)

    assert cache.get("a", make("a")) == 1 and cache.get("b", make("b")) == 2
    assert cache.get("a", make("a")) == 1  # a hit: "a" is now the most recent
    cache.get("c", make("c"))  # evicts "b"
    assert len(cache) == 2 and cache.get("a", make("a")) == 1 and cache.get("b", make("b")) == 4
    assert made == ["a", "b", "c", "b"]
