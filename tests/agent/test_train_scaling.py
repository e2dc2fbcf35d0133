"""A retrain's time and cost on several processes: the stated DDP assumption, and an edit of nproc/nodes (or
epochs) rescaling the proposal's estimate and the rationale's sentence."""

from __future__ import annotations

import pytest
from mlflow.entities import Run, RunData, RunInfo, RunTag

from agent.proposals import RetrainProposal, apply_edit
from agent.retrain_cost import estimate_seconds
from agent.train_scaling import DDP_EFFICIENCY, cost_sentence, cost_usd, processes, rescale, wall_seconds


def test_one_process_is_unscaled_and_n_processes_run_at_the_stated_efficiency():
    assert wall_seconds(300.0, 1) == 300.0
    assert wall_seconds(300.0, 4) == pytest.approx(300.0 / (4 * DDP_EFFICIENCY))  # 100 s at 0.75
    assert processes(2, 3) == 6
    # every process is paid for the whole wall time: 4 processes cost 1/efficiency of one
    assert cost_usd(wall_seconds(3600.0, 4), 4, 3.0) == pytest.approx(3.0 / DDP_EFFICIENCY)
    assert cost_usd(3600.0, 1, 3.0) == pytest.approx(3.0)


def test_rescale_round_trips_and_scales_with_epochs():
    seconds, usd = rescale(120.0, 0.1, before=(10, 1), after=(10, 4))
    assert seconds == pytest.approx(40.0) and usd == pytest.approx(0.1 / DDP_EFFICIENCY)
    back = rescale(seconds, usd, before=(10, 4), after=(10, 1))
    assert back == pytest.approx((120.0, 0.1))
    assert rescale(120.0, 0.1, before=(10, 1), after=(20, 1)) == pytest.approx((240.0, 0.2))
    assert rescale(0.0, 0.0, before=(10, 1), after=(10, 2)) == (0.0, 0.0)  # no estimate stays none


def _proposal() -> RetrainProposal:
    return RetrainProposal(model="churn", title="t", rationale=f"drift. Training on x, {cost_sentence(120.0, 1, 0.1)}.",
                           champion_version="1", expires_at=1e12, brain="offline policy", window_since=None,
                           window_until=None, epochs=10, estimated_train_seconds=120.0, estimated_cost_usd=0.1)


def test_editing_nproc_or_nodes_recosts_the_proposal_and_says_how():
    edited = apply_edit(_proposal(), {"nodes": 2, "nproc": 2})
    assert isinstance(edited, RetrainProposal) and (edited.nodes, edited.nproc) == (2, 2)
    assert edited.estimated_train_seconds == pytest.approx(40.0)
    assert edited.estimated_cost_usd == pytest.approx(round(0.1 / DDP_EFFICIENCY, 4))
    assert "est. 40 s wall on 4 processes" in edited.rationale and "per-process-hour price" in edited.rationale
    assert "est. 120 s" not in edited.rationale
    same = apply_edit(_proposal(), {"seed": 5})  # nothing that changes the time: the estimate stands
    assert same.estimated_train_seconds == 120.0 and same.rationale == _proposal().rationale


def test_nodes_is_editable_and_bounded():
    from agent.proposals import ProposalEditError

    assert _proposal().nodes == 1
    with pytest.raises(ProposalEditError, match="nodes"):
        apply_edit(_proposal(), {"nodes": 0})


def test_the_estimate_counts_the_champions_processes_and_the_retrains():
    info = RunInfo(run_id="r1", experiment_id="0", user_id="u", status="FINISHED", start_time=1_000, end_time=201_000,
                   lifecycle_stage="active")

    def run(nproc: int) -> Run:
        from mlflow.entities import Param

        return Run(info, RunData(params=[Param("rows", "1000"), Param("epochs", "10")],
                                 tags=[RunTag("opsagent.nproc", str(nproc))]))

    one, basis = estimate_seconds(run(1), 1000, 0, 10)
    assert one == pytest.approx(200.0) and "DDP" not in basis
    four, basis = estimate_seconds(run(1), 1000, 0, 10, procs=4)
    assert four == pytest.approx(200.0 / (4 * DDP_EFFICIENCY)) and "on 4 processes" in basis and "75%" in basis
    # a champion trained on 2 processes took 200 s of wall time: one process would need 2 x 0.75 as long
    from_ddp, basis = estimate_seconds(run(2), 1000, 0, 10)
    assert from_ddp == pytest.approx(300.0) and "took 200 s on 2 processes" in basis
