"""The version diff of a release, read from a real registry (MLflow on SQLite): the training runs, data fingerprints,
the params that differ and the gate's verdict — or its absence."""

from __future__ import annotations

from ml_core.data.churn import CHURN_SCHEMA
from ml_core.jobs import train_and_register
from ml_core.release import register_model_bundle
from ml_core.training import TrainConfig
from ml_core.version_diff import release_diff
from tests.conftest import make_champion_home


def test_a_release_diff_names_runs_data_params_and_the_gate(tmp_path, churn_df):
    layout, registry, v1 = make_champion_home(tmp_path / "home", churn_df.head(1500), epochs=2)
    v2 = train_and_register(registry, churn_df.tail(1500), TrainConfig(epochs=1, lr=1e-3, exclude_columns=("state",)),
                            model_name="churn", schema=CHURN_SCHEMA, with_baseline=False, parent_version=v1.version)

    diff = release_diff(registry, "churn", v2.version, v1.version)
    assert diff is not None and diff.old is not None
    assert (diff.old.version, diff.new.version) == (v1.version, v2.version)
    assert (diff.old.training_run_id, diff.new.training_run_id) == (v1.run_id, v2.run_id)
    assert (diff.old.data_fingerprint, diff.new.data_fingerprint) == (v1.data_fingerprint, v2.data_fingerprint)
    assert diff.old.data_fingerprint != diff.new.data_fingerprint
    changed = {p.name: (p.old, p.new) for p in diff.params}
    assert changed == {"epochs": ("2", "1"), "lr": ("0.0005", "0.001")} and diff.params_known
    assert diff.gate is None  # shipped straight from training: no gate judged it

    registry.set_tag("churn", v2.version, "gate", "failed")
    assert release_diff(registry, "churn", v2.version, v1.version).gate == "failed"  # type: ignore[union-attr]

    # the same model re-registered (a hotfix bundle): the same run and data, no parameter differs
    v3 = register_model_bundle(registry, "churn", registry.load("churn", v1.version),
                               tags={"parent_version": v1.version})
    same = release_diff(registry, "churn", v3.version, v1.version)
    assert same is not None and same.old is not None
    assert same.new.training_run_id == v1.run_id and same.new.data_fingerprint == v1.data_fingerprint
    assert same.params == [] and same.params_known

    assert release_diff(registry, "churn", "99", v1.version) is None
    alone = release_diff(registry, "churn", v1.version, None)
    assert alone is not None and alone.old is None and alone.params == []
