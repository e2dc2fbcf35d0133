"""The seed-to-seed spread of one-process training: the yardstick for how far a DDP run may land from it.

    python -m evals.ddp_seed_spread --seeds 10 --epochs 3

A DDP run with the same seed starts from the same weights but groups rows into batches differently (see
ml_core/distributed/ddp.py), which is less than a change of seed (new weights, new order, new dropout). So the
difference between a 1-process and a 2-process run is at most about the difference between two seeds; its
standard deviation is sigma * sqrt(2), and 3 sigma * sqrt(2) is crossed by chance about 0.3% of the time
(normal approximation). This prints sigma and that tolerance for each test metric, on the configuration
tests/ml_core/test_distributed.py trains.
"""

from __future__ import annotations

import argparse
import statistics

from ml_core.data.churn import CHURN_SCHEMA, load_churn
from ml_core.data.tables import split_frame
from ml_core.evaluation import classification_metrics
from ml_core.training import TrainConfig, train_model

TEST_CONFIG = {"members": 1, "hidden": 16, "device": "cpu"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    data = load_churn()
    scores: dict[str, list[float]] = {"auc": [], "f1": []}
    for seed in range(args.seeds):
        split = split_frame(data, CHURN_SCHEMA, seed=7)  # one split: only training varies, as in the test
        result = train_model(split, TrainConfig(epochs=args.epochs, seed=seed, **TEST_CONFIG), CHURN_SCHEMA)
        y = CHURN_SCHEMA.labels_to_int(split.test[CHURN_SCHEMA.label]).to_numpy()
        metrics = classification_metrics(y, result.model.predict_proba(split.test), result.model.threshold)
        for key in scores:
            scores[key].append(metrics[key])
    for key, values in scores.items():
        sigma = statistics.stdev(values)
        print(f"test {key}: mean {statistics.mean(values):.4f}  sigma {sigma:.4f}  "
              f"tolerance 3*sigma*sqrt(2) = {3 * sigma * 2 ** 0.5:.4f}  ({args.seeds} seeds, {args.epochs} epochs)")


if __name__ == "__main__":
    main()
