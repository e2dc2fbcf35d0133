"""Evidently drift reports for people: HTML + JSON + per-feature PNG histograms, and verdicts as data.

The report runs Evidently 0.7's ``DataDriftPreset`` with its defaults. Column kinds are passed to
Evidently explicitly (``DataDefinition``) whenever the caller fixes them, so the report and the fast
screen type every column the same way; without them Evidently infers kinds from the current frame,
which the screen replicates -- and on a small window that may type a string column text (more distinct
values than half the rows) and run a text-drift test, which the verdicts read like any other
(``stattests``). A column with no values in the window (or the reference) is left out of the report,
which Evidently would refuse, and listed as not enough data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from ml_core.monitoring.drift_screen import (
    DEFAULT_THRESHOLDS,
    ColumnKind,
    DriftScreenResult,
    FeatureDrift,
    infer_column_kind,
)
from ml_core.monitoring.stattests import TEXT_TESTS, evidently_test_id
from ml_core.monitoring.sufficiency import InsufficientColumn


class EvidentlyDriftReport(BaseModel):
    """Where the report went and what it says, in the fast screen's shape."""

    directory: Path
    html: Path | None
    json_path: Path
    plots: list[Path]
    result: DriftScreenResult


def _data_definition(frame: pd.DataFrame, columns: Sequence[str], kinds: Mapping[str, ColumnKind] | None):
    from evidently import DataDefinition

    if kinds is None:
        return DataDefinition()
    resolved = {c: kinds.get(c) or infer_column_kind(frame[c]) for c in columns}
    return DataDefinition(numerical_columns=[c for c, k in resolved.items() if k == "numerical"],
                          categorical_columns=[c for c, k in resolved.items() if k == "categorical"])


def empty_columns(reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str]) -> list[InsufficientColumn]:
    """Columns with no finite value in the window (or the reference): no test can run on them."""
    out = []
    for name in columns:
        for side, frame in (("window", current), ("reference", reference)):
            if not frame[name].replace([np.inf, -np.inf], np.nan).count():
                out.append(InsufficientColumn(name=name, n=int(current[name].count()),
                                              reason=f"no finite values in the {side}"))
                break
    return out


def run_evidently_drift(reference: pd.DataFrame, current: pd.DataFrame, *,
                        columns: Sequence[str] | None = None,
                        kinds: Mapping[str, ColumnKind] | None = None, drift_share: float = 0.5):
    """Run ``DataDriftPreset`` and return Evidently's snapshot (no files written); columns with no values on
    either side are left out (see ``empty_columns``)."""
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    cols = list(columns) if columns is not None else list(reference.columns)
    empty = {c.name for c in empty_columns(reference, current, cols)}
    cols = [c for c in cols if c not in empty]
    if not cols:
        raise ValueError("no column has values in both the window and the reference: there is nothing to compare")
    ref, cur = reference[cols], current[cols]
    definition = _data_definition(cur, cols, kinds)
    report = Report([DataDriftPreset(drift_share=drift_share)], include_tests=True)
    return report.run(Dataset.from_pandas(cur, data_definition=definition),
                      Dataset.from_pandas(ref, data_definition=definition))


def verdicts_from_snapshot(snapshot, reference: pd.DataFrame, current: pd.DataFrame,
                           drift_share: float = 0.5,
                           kinds: Mapping[str, ColumnKind] | None = None) -> DriftScreenResult:
    """Per-column test, score, threshold and verdict read from an Evidently snapshot (any test in Evidently's
    registry; an unknown one as ``other`` with its display name in ``method``)."""
    data = snapshot.dict()
    found: dict[str, dict] = {}
    for metric in data["metrics"]:
        cfg = metric["config"]
        if cfg["type"].endswith(":ValueDrift"):
            method = str(cfg.get("method") or "")
            test = evidently_test_id(method)
            found[cfg["column"]] = {"test": test, "method": method, "statistic": float(metric["value"]),
                                    "threshold": float(cfg.get("threshold") or DEFAULT_THRESHOLDS.get(test, 0.0))}
    for test in data["tests"]:
        params = test["metric_config"]["params"]
        if test["id"] == "drift" and params.get("column") in found:
            found[params["column"]]["drifted"] = test["status"] == "FAIL"
    features = []
    for name, f in found.items():
        ref = reference[name].replace([np.inf, -np.inf], np.nan)
        cur = current[name].replace([np.inf, -np.inf], np.nan)
        kind = (kinds or {}).get(name) or infer_column_kind(current[name])
        features.append(FeatureDrift(
            name=name, kind=kind or ("text" if f["test"] in TEXT_TESTS else "categorical"), test=f["test"],
            method=f["method"], statistic=f["statistic"], threshold=f["threshold"],
            drifted=bool(f.get("drifted", False)), n_reference=int(ref.count()), n_current=int(cur.count())))
    n = sum(f.drifted for f in features)
    share = n / len(features) if features else 0.0
    shared = [c for c in current.columns if c in reference.columns]
    return DriftScreenResult(features=features, n_drifted=n, drifted_share=share, drift_share=drift_share,
                             dataset_drifted=bool(features) and share >= drift_share,
                             insufficient=empty_columns(reference, current, shared))


# Every plot is drawn on this one thread. matplotlib caches its fonts per thread (FreeType objects are not
# thread-safe), and triage runs its nodes on short-lived threads: drawn there, each tick opened the font files
# again and kept them (up to 64 threads' worth) — a slow leak of open files and memory in `opsagent serve`.
# One thread also keeps pyplot's global figure state away from two triages drawing at once.
T = TypeVar("T")
_PLOTTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drift-plots")


def on_plot_thread(draw: Callable[..., T], *args: Any) -> T:
    """Run ``draw(*args)`` on the one plotting thread (see ``_PLOTTER``) and return its result."""
    return _PLOTTER.submit(draw, *args).result()


def plot_feature(reference: pd.Series, current: pd.Series, path: Path, title: str) -> Path:
    """Reference vs current histogram (numerical) or bar chart of shares (categorical) as a PNG."""
    return _PLOTTER.submit(_plot_feature, reference, current, path, title).result()


def _plot_feature(reference: pd.Series, current: pd.Series, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    numeric = pd.api.types.is_numeric_dtype(reference) and reference.nunique() > 10
    if numeric:
        ref = reference.replace([np.inf, -np.inf], np.nan).dropna().to_numpy(float)
        cur = current.replace([np.inf, -np.inf], np.nan).dropna().to_numpy(float)
        edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins=30)
        ax.hist(ref, bins=edges, density=True, alpha=0.5, label=f"reference (n={len(ref)})")
        ax.hist(cur, bins=edges, density=True, alpha=0.5, label=f"current (n={len(cur)})")
        ax.set_ylabel("density")
    else:
        shares = pd.DataFrame({"reference": reference.value_counts(normalize=True),
                               "current": current.value_counts(normalize=True)}).fillna(0.0)
        shares = shares.sort_values("reference", ascending=False).head(30)
        x = np.arange(len(shares))
        ax.bar(x - 0.2, shares["reference"], width=0.4, label="reference")
        ax.bar(x + 0.2, shares["current"], width=0.4, label="current")
        ax.set_xticks(x, [str(v) for v in shares.index], rotation=60, fontsize=7)
        ax.set_ylabel("share")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_drift_report(reference: pd.DataFrame, current: pd.DataFrame, reports_dir: Path, *,
                       columns: Sequence[str] | None = None, kinds: Mapping[str, ColumnKind] | None = None,
                       drift_share: float = 0.5, html: bool = True, plots: bool = True,
                       stamp: str | None = None) -> EvidentlyDriftReport:
    """Run Evidently's drift preset and save ``report.html``, ``report.json``, ``verdicts.json`` and
    one PNG per drifted feature under ``reports_dir / "drift" / <UTC timestamp>``."""
    stamp = stamp or datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    out = Path(reports_dir) / "drift" / stamp
    out.mkdir(parents=True, exist_ok=True)
    cols = list(columns) if columns is not None else list(reference.columns)
    reference, current = reference[cols], current[cols]
    snapshot = run_evidently_drift(reference, current, kinds=kinds, drift_share=drift_share)
    html_path = out / "report.html" if html else None
    if html_path is not None:
        snapshot.save_html(str(html_path))
    json_path = out / "report.json"
    snapshot.save_json(str(json_path))
    result = verdicts_from_snapshot(snapshot, reference, current, drift_share, kinds)
    (out / "verdicts.json").write_text(json.dumps(result.model_dump(mode="json"), indent=2))
    pngs = []
    if plots:
        for f in result.drifted_features():
            title = f"{f.name}: {f.test} = {f.statistic:.4g} (threshold {f.threshold:g})"
            pngs.append(plot_feature(reference[f.name], current[f.name], out / f"{f.name}.png", title))
    return EvidentlyDriftReport(directory=out, html=html_path, json_path=json_path, plots=pngs, result=result)
