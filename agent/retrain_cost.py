"""What a retrain will cost: the rows it trains on and its training time, scaled from the champion's MLflow run."""

from __future__ import annotations

from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from agent.context import OpsContext
from agent.train_scaling import DDP_EFFICIENCY, wall_seconds
from ml_core.registry import VersionInfo

NPROC_TAG = "opsagent.nproc"  # on a DDP run (ml_core.distributed.worker): how many processes trained it


def reference_rows(ctx: OpsContext, model: str, champion: VersionInfo | None) -> int:
    """Rows of the reference data a retrain adds to the window: the spec's table, else the champion's rows."""
    from ml_core.pipeline import champion_reference
    from ml_core.spec.data import retrain_reference

    try:
        reference = retrain_reference(ctx.spec(model))
        return len(reference if reference is not None else champion_reference(ctx.registry, model, champion))
    except ValueError:
        return 0


def training_run(ctx: OpsContext, champion: VersionInfo | None) -> Run | None:
    """The champion's training run in MLflow, or None when it is gone or was never recorded."""
    run_id = champion and (champion.tags.get("training_run_id") or champion.run_id)
    try:
        return ctx.registry.client.get_run(run_id) if run_id else None
    except MlflowException:
        return None


def estimate_seconds(run: Run, reference_rows: int, window_rows: int, epochs: int,
                     procs: int = 1) -> tuple[float, str]:
    """Wall seconds for the retrain on ``procs`` DDP processes, scaled from the champion's run (by rows, epochs,
    and the processes of both: agent.train_scaling's assumption), and how the number was reached."""
    info, params = run.info, run.data.params
    took = ((info.end_time - info.start_time) / 1000 if info.end_time and info.start_time
            else float(run.data.metrics.get("train_seconds", 0.0)))
    old_rows, old_epochs = int(params.get("rows") or 0), int(params.get("epochs") or 0)
    rows = reference_rows + window_rows
    old_procs = int(run.data.tags.get(NPROC_TAG) or 1)  # a DDP champion's time is its wall time on that many
    one = took * (old_procs * DDP_EFFICIENCY if old_procs > 1 else 1.0)
    seconds = wall_seconds(one * (rows / old_rows if old_rows else 1.0) * (epochs / old_epochs if old_epochs
                                                                          else 1.0), procs)
    assumed = f" (DDP assumed at {DDP_EFFICIENCY:.0%} of ideal scaling)" if max(procs, old_procs) > 1 else ""
    return seconds, (f"the champion's run {info.run_id} took {took:.0f} s{_on(old_procs)} for {old_rows} rows x "
                     f"{old_epochs} epochs; scaled to {rows} rows ({window_rows} from the window) x {epochs} epochs"
                     f"{_on(procs)}{assumed}")


def _on(procs: int) -> str:
    return f" on {procs} processes" if procs > 1 else ""
