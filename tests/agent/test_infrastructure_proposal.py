"""The investigate_infrastructure proposal everywhere a proposal is shown: stored and rebuilt, the inbox request
(nothing to edit), the Markdown page, the one-line summary (tables, Slack) and the tools' inbox line."""

from __future__ import annotations

import pytest

from agent.proposals import InfrastructureProposal, ProposalEditError, apply_edit, inbox_request, proposal_from_dict
from agent.reports.render import proposal_summary, render_proposal
from tools.proposal_tools import summary_line

PAGE = InfrastructureProposal(
    model="churn", title="Page the platform owner: churn's serving replicas on kubernetes",
    rationale="churn: infrastructure: 0 of 2 serving replicas ready.", champion_version="3", expires_at=2e9,
    brain="offline policy", backend="kubernetes", replicas="0/2 replicas ready, 7 restart(s)",
    problems=["churn-scoring-a: crash loop, 4 restart(s) (Back-off restarting failed container)",
              "churn-scoring-b: oom killed, 3 restart(s) (exit code 137)"],
    events=["event BackOff on Pod/churn-scoring-a ×5: Back-off restarting failed container"])


def test_it_round_trips_and_has_nothing_to_edit() -> None:
    assert proposal_from_dict(PAGE.model_dump(mode="json")) == PAGE
    request = inbox_request(PAGE)
    assert request["action_request"]["action"] == "investigate_infrastructure"
    assert request["config"]["allow_edit"] is False
    with pytest.raises(ProposalEditError, match="editable: none"):
        apply_edit(PAGE, {"backend": "local"})


def test_every_view_names_the_replicas_and_their_states() -> None:
    page = render_proposal(PAGE, status="pending")
    assert "| problems | churn-scoring-a: crash loop, 4 restart(s)" in page
    assert "event BackOff on Pod/churn-scoring-a ×5" in page and "| replicas | 0/2 replicas ready" in page
    assert "(kubernetes: 0/2 replicas ready, 7 restart(s); expires" in proposal_summary(PAGE)
    assert summary_line(PAGE).startswith("page the platform owner: kubernetes 0/2 replicas ready, 7 restart(s); "
                                         "churn-scoring-a: crash loop")
