"""Synthetic but varied ML-ops memories and recall queries for the memory benchmark (``evals.bench_memory``).

Runs, incidents, post-mortems, decisions and outcomes over many models, features, versions and metrics;
numbers and ids make every text unique, so a large store has no duplicate to make ranking easy.
"""

from __future__ import annotations

import uuid

import numpy as np

MODELS = ["churn", "fraud", "ltv", "credit_risk", "ranking", "eta", "demand", "pricing", "ctr", "search",
          "spam", "recsys"]
KINDS = ["training_run", "incident", "postmortem", "decision", "outcome"]
FEATURES = ["total_day_minutes", "total_eve_charge", "number_customer_service_calls", "account_length",
            "international_plan", "transaction_amount", "merchant_category", "session_length", "basket_value",
            "distance_km", "hour_of_day", "device_type", "country", "tenure_months", "click_rate"]
PEOPLE = ["alice", "bob", "carol", "dana", "erin", "farid", "grace"]
CAUSES = ["covariate drift", "concept drift", "label shift", "null values from the upstream feed",
          "a schema change", "a slow release", "an error spike after deploy"]
ACTIONS = ["retrain", "rollback", "retune_threshold", "fix_data", "promote"]
QUERY_TEMPLATES = [
    "why did {model} F1 drop after {feature} drifted",
    "{model} latency spike after the new release, was it rolled back",
    "past incidents where {feature} had nulls or a broken feed",
    "did retraining {model} on the recent window fix the drift",
    "who approved the {action} of {model} and what happened",
    "{model} precision fell while recall held; label shift suspected",
]


def memory_text(rng: np.random.Generator, kind: str, model: str) -> tuple[str, str]:
    """One realistic memory of ``kind`` for ``model`` and its version; numbers and ids make each unique."""
    v, f = int(rng.integers(1, 60)), str(rng.choice(FEATURES))
    a, b = float(rng.uniform(0.6, 0.95)), float(rng.uniform(0.4, 0.9))
    run = uuid.UUID(int=int(rng.integers(0, 2**63))).hex[:12]
    person, action, cause = str(rng.choice(PEOPLE)), str(rng.choice(ACTIONS)), str(rng.choice(CAUSES))
    if kind == "training_run":
        rows = int(rng.integers(2, 900)) * 1000
        text = (f"Trained {model} v{v} on {rows} rows; test F1 {a:.3f}, AUC {b + 0.05:.3f}, "
                f"{int(rng.integers(5, 80))} epochs on {rng.choice(['cuda', 'cpu'])} in {rng.uniform(20, 4000):.0f} s; "
                f"mlflow run {run}.")
    elif kind == "incident":
        text = (f"{model} v{v}: {cause} in {f} (PSI {rng.uniform(0.1, 2):.2f}, mean shift {rng.uniform(5, 60):.0f}%); "
                f"realised F1 fell from {a:.2f} to {min(a, b) - 0.03:.2f} over a {int(rng.integers(1, 48))} h window "
                f"of {int(rng.integers(500, 90000))} predictions; p95 latency {rng.uniform(20, 900):.0f} ms.")
    elif kind == "postmortem":
        text = (f"Post-mortem inc-{run[:8]}: {cause} on {model} v{v}, driven by {f}; detected by the scheduled "
                f"screen after {int(rng.integers(5, 300))} minutes; mitigation: {action}; "
                f"{int(rng.integers(100, 50000))} requests affected; follow-up: add a check on {rng.choice(FEATURES)}.")
    elif kind == "decision":
        verb = rng.choice(["approved", "rejected", "edited then approved", "ignored"])
        text = (f"{person} {verb} the {action} proposal for {model} v{v} via {rng.choice(['slack', 'web', 'cli'])}: "
                f"expected gain {rng.uniform(0.005, 0.1):.3f} F1, estimated {rng.uniform(1, 90):.0f} GPU minutes, "
                f"proposal prop-{run[:10]}.")
    else:
        worked = bool(rng.random() < 0.7)
        text = (f"{action} of {model} to v{v + 1} {'worked' if worked else 'did not help'}: F1 {b:.3f} -> "
                f"{(a if worked else b - 0.02):.3f}; canary at {int(rng.integers(5, 50))}% for "
                f"{int(rng.integers(5, 120))} min, then {'promoted' if worked else 'rolled back'} (run {run}).")
    return text, str(v)
