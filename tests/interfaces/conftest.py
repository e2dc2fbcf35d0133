"""Interface-test fixtures: a home with a champion, where tests file proposals (see inbox_world.py)."""

from __future__ import annotations

import pytest

from tests.interfaces.inbox_world import make_inbox_world


@pytest.fixture(scope="module")
def inbox_world(tmp_path_factory, churn_df):
    return make_inbox_world(tmp_path_factory.mktemp("inbox"), churn_df)
