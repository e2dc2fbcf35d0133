"""The post-mortem embeds the model's health charts: a real PNG in the incident's folder, linked from the Markdown."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from agent.context import OpsContext
from agent.reports import load_postmortem, save_postmortem
from agent.reports.health_chart import CHART_FILE, write_health_chart
from agent.reports.postmortem_model import PostMortem
from agent.settings import Settings
from tests.conftest import make_champion_home
from tests.interfaces.health_world import write_churn_traffic


@pytest.fixture(scope="module")
def layout(tmp_path_factory, churn_df):
    return make_champion_home(tmp_path_factory.mktemp("home"), churn_df, epochs=2)[0]


def test_no_traffic_still_draws_and_a_missing_model_draws_nothing(layout):
    """First in the module: before the traffic is written."""
    ctx = OpsContext(Settings(home=layout.home), via="test", actor="tester")
    try:
        assert write_health_chart(ctx, "churn", "inc-empty", until=time.time()) == CHART_FILE
        assert write_health_chart(ctx, "nosuch", "inc-none", until=time.time()) is None  # logged, never raised
    finally:
        ctx.close()
    assert (layout.reports_dir / "inc-empty" / CHART_FILE).is_file()
    assert not (layout.reports_dir / "inc-none" / CHART_FILE).exists()


def test_the_postmortem_folder_holds_the_health_png_and_the_markdown_embeds_it(layout, churn_df):
    now = time.time()
    write_churn_traffic(layout, churn_df, until=now)
    ctx = OpsContext(Settings(home=layout.home), via="test", actor="tester")
    try:
        assert write_health_chart(ctx, "churn", "inc-health1", until=now + 1) == CHART_FILE
        pm = PostMortem(incident_id="inc-health1", model="churn", title="churn: drift", created_at=now,
                        brain="offline policy", summary="s", impact="i", root_cause="r", health_chart=CHART_FILE)
        md_path = save_postmortem(layout, pm)
    finally:
        ctx.close()
    png = md_path.parent / CHART_FILE
    assert f"![model health]({CHART_FILE})" in md_path.read_text()
    assert load_postmortem(md_path).health_chart == CHART_FILE  # the JSON (the truth) keeps it too
    image = Image.open(png).convert("RGB")
    assert image.size == (720, 1026)  # 8 x 11.4 in at 90 dpi: six stacked charts
    assert len(image.getcolors(1 << 24) or []) > 50  # drawn, not blank
    v1 = sum(1 for px in image.getdata() if abs(px[0] - 0x00) + abs(px[1] - 0x72) + abs(px[2] - 0xB2) < 40)
    assert v1 > 200  # v1's lines in its page colour

