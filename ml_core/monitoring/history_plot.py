"""The health history as one PNG (a chart per panel, stacked, sharing the time axis): what a post-mortem embeds.

Drawn like the health page's SVG (a colour per version, AUC dashed, gaps for thin buckets, guides dashed grey,
a vertical line per marker) with matplotlib on the one plotting thread the drift plots use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ml_core.monitoring.evidently_report import on_plot_thread
from ml_core.monitoring.history import MARKER_COLOURS, PALETTE, HealthHistory


def plot_history(history: HealthHistory, path: Path) -> Path:
    """Write the history's charts to ``path`` (PNG) and return it."""
    return on_plot_thread(_plot, history, Path(path))


def _plot(history: HealthHistory, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    colour = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(history.versions)}
    mids = [datetime.fromtimestamp(s + history.bucket_s / 2, tz=UTC) for s in history.starts]
    fig, axes = plt.subplots(len(history.panels), 1, figsize=(8, 1.9 * len(history.panels)), sharex=True)
    for ax, panel in zip(np.atleast_1d(axes), history.panels, strict=True):
        for i, s in enumerate(panel.series):
            values = [np.nan if v is None else v for v in s.values]
            ax.plot(mids, values, marker="o", markersize=2.5, linewidth=1.6, linestyle="--" if s.dashed else "-",
                    color=colour.get(s.version or "", PALETTE[i % len(PALETTE)]), label=s.name)
        for g in panel.guides:
            ax.axhline(g.value, color="#98a2b3", linestyle=":", linewidth=1)
        for m in history.markers:
            ax.axvline(datetime.fromtimestamp(m.at, tz=UTC), color=MARKER_COLOURS[m.kind], linewidth=1.2, alpha=0.8)
        ax.set_title(f"{panel.title} — {panel.unit}", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
        if panel.series:
            ax.legend(fontsize=6, loc="upper left", ncol=4, frameon=False)
        else:
            ax.text(0.5, 0.5, panel.note or "no data", transform=ax.transAxes, ha="center", va="center", fontsize=8,
                    color="#667085")
    last = np.atleast_1d(axes)[-1]
    last.set_xlim(datetime.fromtimestamp(history.since, tz=UTC), datetime.fromtimestamp(history.until, tz=UTC))
    last.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M", tz=UTC))
    last.set_xlabel("UTC · vertical lines: green deploy, red incident, orange proposal", fontsize=7)
    fig.suptitle(f"{history.model}: health, {history.rows:,} predictions", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
