"""A retrain proposal's ``nproc``: one process by default, editable within the launcher's bound."""

from __future__ import annotations

import pytest

from agent.proposals import ProposalEditError, RetrainProposal, apply_edit
from ml_core.distributed import MAX_NPROC


def test_retrain_proposal_nproc_is_bounded_and_editable():
    proposal = RetrainProposal(model="churn", title="t", rationale="r", champion_version="1", expires_at=1e12,
                               brain="offline policy", window_since=None, window_until=None)
    assert proposal.nproc == 1
    assert apply_edit(proposal, {"nproc": 2}).nproc == 2
    with pytest.raises(ProposalEditError, match="nproc"):
        apply_edit(proposal, {"nproc": MAX_NPROC + 1})
    assert apply_edit(proposal, {"nproc": MAX_NPROC}).nproc == MAX_NPROC  # the same bound as the launcher
