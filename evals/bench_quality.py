"""Model quality on every built-in spec: the PyTorch model against the gradient-boosting baseline,
both trained on the same split in the same run.

    python -m evals.bench_quality                      # churn and credit, seed 7
    python -m evals.bench_quality --seeds 7,8,9        # spread across splits and initialisations
    python -m evals.bench_quality --specs credit --epochs 20 --json quality.json

Each seed is a different split (``split_frame(seed=...)``) and a different initialisation, so the spread
shows how much of a gap is noise. The AUC gap is model minus baseline: negative means the tree is ahead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ml_core.baseline import train_baseline
from ml_core.data.tables import split_frame
from ml_core.evaluation import classification_metrics
from ml_core.paths import HomeLayout
from ml_core.spec.data import load_spec_data
from ml_core.spec.errors import SpecError
from ml_core.spec.store import SpecStore
from ml_core.training import TrainConfig, train_model

DEFAULT_SPECS = ("churn", "credit")


@dataclass
class QualityRow:
    """One spec, one seed: the model's and the baseline's test figures on the same split."""

    spec: str
    seed: int
    rows: int
    test_rows: int
    model_auc: float
    model_f1: float
    baseline_auc: float
    baseline_f1: float
    best_epoch: int
    model_seconds: float
    baseline_seconds: float

    @property
    def auc_gap(self) -> float:
        return self.model_auc - self.baseline_auc


def measure(spec_name: str, seed: int, store: SpecStore, overrides: dict[str, object]) -> QualityRow:
    """Train the PyTorch model and the baseline on one seeded split of the spec's data; test figures of both."""
    spec = store.get(spec_name)
    schema = spec.schema
    frame = load_spec_data(spec)
    split = split_frame(frame, schema, seed=seed)
    config = TrainConfig(seed=seed, exclude_columns=tuple(spec.exclude_from_training), **overrides)  # type: ignore[arg-type]
    result = train_model(split, config, schema)
    y = schema.labels_to_int(split.test[schema.label]).to_numpy()
    metrics = classification_metrics(y, result.model.predict_proba(split.test), result.model.threshold)
    base = train_baseline(split, schema, seed=seed, exclude=config.exclude_columns)
    return QualityRow(spec_name, seed, len(frame), len(split.test), metrics["auc"], metrics["f1"],
                      base.test_metrics["auc"], base.test_metrics["f1"], result.best_epoch, result.seconds,
                      base.seconds)


def summarise(rows: list[QualityRow]) -> list[dict[str, object]]:
    """Per spec: the mean of each figure over seeds and the AUC gap's range."""
    out: list[dict[str, object]] = []
    for name in dict.fromkeys(r.spec for r in rows):
        mine = [r for r in rows if r.spec == name]
        gaps = [r.auc_gap for r in mine]
        out.append({
            "spec": name, "seeds": [r.seed for r in mine], "rows": mine[0].rows,
            "model_auc": statistics.fmean(r.model_auc for r in mine),
            "model_f1": statistics.fmean(r.model_f1 for r in mine),
            "baseline_auc": statistics.fmean(r.baseline_auc for r in mine),
            "baseline_f1": statistics.fmean(r.baseline_f1 for r in mine),
            "auc_gap": statistics.fmean(gaps), "auc_gap_min": min(gaps), "auc_gap_max": max(gaps),
        })
    return out


def render(rows: list[QualityRow], summary: list[dict[str, object]]) -> str:
    head = (f"{'data set':<9} {'seed':>4} {'rows':>6} {'model AUC':>10} {'model F1':>9} {'base AUC':>9} "
            f"{'base F1':>8} {'AUC gap':>8} {'epoch':>6} {'model s':>8} {'base s':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.spec:<9} {r.seed:>4} {r.rows:>6} {r.model_auc:>10.4f} {r.model_f1:>9.4f} "
                     f"{r.baseline_auc:>9.4f} {r.baseline_f1:>8.4f} {r.auc_gap:>+8.4f} {r.best_epoch:>6} "
                     f"{r.model_seconds:>8.1f} {r.baseline_seconds:>7.1f}")
    if len(rows) > len(summary):
        lines.append("-" * len(head))
        for s in summary:
            lines.append(f"{s['spec']:<9} {'mean':>4} {s['rows']:>6} {s['model_auc']:>10.4f} {s['model_f1']:>9.4f} "
                         f"{s['baseline_auc']:>9.4f} {s['baseline_f1']:>8.4f} {s['auc_gap']:>+8.4f}   "
                         f"gap range [{s['auc_gap_min']:+.4f}, {s['auc_gap_max']:+.4f}]")
    return "\n".join(lines)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--seeds takes integers separated by commas, e.g. 7,8,9 (got {text!r})") \
            from exc
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds needs at least one seed, e.g. 7")
    return seeds


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="example: python -m evals.bench_quality --seeds 7,8,9 --json quality.json")
    ap.add_argument("--specs", default=",".join(DEFAULT_SPECS), help="comma-separated spec names (default: "
                    "churn,credit)")
    ap.add_argument("--seeds", type=_seeds, default=[7], help="comma-separated seeds, e.g. 7,8,9 (default 7)")
    ap.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: TrainConfig's)")
    ap.add_argument("--device", default="cpu", help="cpu (default) | cuda | auto")
    ap.add_argument("--json", type=Path, default=None, help="also write every row and the summary here")
    args = ap.parse_args(argv)
    overrides: dict[str, object] = {"device": args.device}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    rows: list[QualityRow] = []
    start = time.perf_counter()
    # The built-in specs are written into a throwaway home: the benchmark never touches the user's.
    with tempfile.TemporaryDirectory() as tmp:
        store = SpecStore(HomeLayout(Path(tmp)))
        for name in [s.strip() for s in args.specs.split(",") if s.strip()]:
            try:
                store.get(name)
            except SpecError as exc:  # a typo in --specs: the message lists the known names
                ap.error(str(exc).split(";")[0])
            for seed in args.seeds:
                rows.append(measure(name, seed, store, overrides))
    summary = summarise(rows)
    print(render(rows, summary))
    print(f"{time.perf_counter() - start:.0f}s in all; AUC gap = model - baseline (HistGradientBoosting)")
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": [{**asdict(r), "auc_gap": r.auc_gap} for r in rows],
                                         "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
