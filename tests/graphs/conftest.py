"""Graph-test fixtures: a served world with drifted traffic (see world.py)."""

from __future__ import annotations

import pytest
from world import serve_world


@pytest.fixture(scope="module")
def drift_world(tmp_path_factory, churn_df):
    world = serve_world(tmp_path_factory.mktemp("world"), churn_df)
    yield world
    world.backend.stop()
