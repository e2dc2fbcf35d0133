"""A home with churn v1 as champion and proposals waiting in the inbox, for the interface tests
(dispatcher, web, Slack). Proposals are filed through the real graphs, so each has a paused remediation thread."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.context import OpsContext
from agent.drafting import draft_fix_data, draft_retrain
from agent.settings import Settings
from graphs.runner import GraphRunner
from ml_core.paths import HomeLayout
from tests.conftest import make_champion_home


@dataclass
class InboxWorld:
    layout: HomeLayout
    champion: str

    def settings(self, **overrides) -> Settings:
        """Settings for this home; tests set web/Slack fields through ``overrides``."""
        return Settings(home=self.layout.home, canary_watch_s=0, canary_min_requests=5, **overrides)

    def file_fix_data(self, problem: str = "nulls in total_day_minutes from the billing feed") -> str:
        """A fix-data proposal (executes instantly: acknowledged, nothing deployed); returns its id."""
        ctx = OpsContext(self.settings(), via="test", actor="tester")
        with GraphRunner(ctx) as runner:
            proposal = draft_fix_data(ctx, "churn", features=["total_day_minutes"], problem=problem,
                                      brain="offline policy", incident_id=None)
            runner.file_proposal(proposal)
        return proposal.id

    def file_retrain(self, epochs: int = 2) -> str:
        """A retrain proposal on the reference data (executing it trains and canaries); returns its id."""
        ctx = OpsContext(self.settings(), via="test", actor="tester")
        with GraphRunner(ctx) as runner:
            proposal = draft_retrain(ctx, "churn", reason="test: realised F1 dropped", window_since=None,
                                     window_until=None, evidence=[], brain="offline policy", epochs=epochs)
            runner.file_proposal(proposal)
        return proposal.id


def make_inbox_world(root: Path, churn_df) -> InboxWorld:
    layout, _registry, job = make_champion_home(root, churn_df, epochs=3)
    return InboxWorld(layout=layout, champion=job.version)
