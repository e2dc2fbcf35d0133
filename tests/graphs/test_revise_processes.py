"""The offline reviser understands processes and pods, and an edit through it rescales the estimate."""

from __future__ import annotations

from agent.proposals import RetrainProposal, apply_edit
from agent.train_scaling import cost_sentence
from graphs.revise import parse_changes


def _proposal() -> RetrainProposal:
    return RetrainProposal(model="churn", title="t", rationale=f"drift. {cost_sentence(120.0, 1, 0.1)}.",
                           champion_version="1", expires_at=1e12, brain="offline policy", window_since=None,
                           window_until=None, epochs=10, estimated_train_seconds=120.0, estimated_cost_usd=0.1)


def test_processes_and_pods_are_parsed_and_recost_the_proposal():
    p = _proposal()
    assert parse_changes(p, "train on 2 nodes with 2 processes each", now=0.0) == {"nproc": 2, "nodes": 2}
    assert parse_changes(p, "nproc=4", now=0.0) == {"nproc": 4}
    assert parse_changes(p, "use 3 pods and 20 epochs", now=0.0) == {"nodes": 3, "epochs": 20}
    revised = apply_edit(p, parse_changes(p, "2 nodes, 2 processes", now=0.0))
    assert revised.estimated_train_seconds == 40.0 and "on 4 processes" in revised.rationale
