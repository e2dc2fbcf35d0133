"""The health page's charts as inline SVG, rendered on the server: no script, no charting library, no CDN.

One chart per panel of a :class:`HealthHistory`: a line per series (a colour per version, the same in every chart;
AUC dashed beside F1), gaps where a bucket had too few rows, dashed guide lines (SLOs, thresholds) and a vertical
line per marker (deploys, incidents, proposals), each with a tooltip and, where it has a page, a link.
Element classes (``series``, ``marker deploy``, ``guide``) are what the browser test counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from markupsafe import Markup, escape

from ml_core.monitoring.history import MARKER_COLOURS, PALETTE, HealthHistory, Marker, Panel

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 14, 14, 30
FIXED_RANGES = {"realised": (0.0, 1.0), "estimated": (0.0, 1.0)}  # metrics on their natural scale


def colours(history: HealthHistory) -> dict[str, str]:
    """Series name -> colour: by version for version series, by position for feature series (drift)."""
    by_version = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(history.versions)}
    out: dict[str, str] = {}
    for panel in history.panels:
        for i, s in enumerate(panel.series):
            out[f"{panel.key}:{s.name}"] = by_version.get(s.version or "", PALETTE[i % len(PALETTE)])
    return out


def swatch(colour: str, dashed: bool = False) -> Markup:
    """A legend's sample of a line, as SVG: the page's CSP refuses inline styles, not SVG attributes."""
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    return Markup(f'<svg class="swatch" width="20" height="8" aria-hidden="true"><line x1="1" x2="19" y1="4" y2="4" '
                  f'stroke="{escape(colour)}" stroke-width="3"{dash}/></svg>')


def when(ts: float, span_s: float) -> str:
    """An axis or tooltip date: the time of day within a day's span, the date and time beyond, in UTC."""
    fmt = "%H:%M" if span_s <= 86_400 else "%m-%d %H:%M"
    return datetime.fromtimestamp(ts, tz=UTC).strftime(fmt)


def nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """About ``count`` round values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    span = high - low if high > low else 1.0
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    return [round(first + i * step, 10) for i in range(int(math.ceil((high - first) / step)) + 1)]


def _y_range(panel: Panel) -> tuple[float, float]:
    if panel.key in FIXED_RANGES:
        return FIXED_RANGES[panel.key]
    values = [v for s in panel.series for v in s.values if v is not None] + [g.value for g in panel.guides]
    high = max(values, default=1.0)
    return 0.0, high * 1.1 if high > 0 else 1.0


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _path(xs: list[float], ys: Iterable[float | None]) -> str:
    """An SVG path through the points, lifting the pen over gaps (None)."""
    parts, pen_down = [], False
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{x:.1f},{y:.1f}")
        pen_down = True
    return " ".join(parts)


def panel_svg(history: HealthHistory, panel: Panel, palette: dict[str, str]) -> Markup:
    """One panel as an ``<svg>`` element (escaped throughout: names and labels are data)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = history.until - history.since
    low, high = _y_range(panel)
    ticks = [t for t in nice_ticks(low, high) if low <= t <= high]

    def x_of(ts: float) -> float:
        return LEFT + (ts - history.since) / span * plot_w

    def y_of(v: float) -> float:
        return TOP + plot_h - (min(max(v, low), high) - low) / (high - low) * plot_h

    out = [f'<svg class="chart" data-panel="{panel.key}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'aria-label="{escape(panel.title)}" xmlns="http://www.w3.org/2000/svg">',
           f'<rect class="plot-area" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>']
    for t in ticks:
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y_of(t):.1f}" y2="{y_of(t):.1f}"/>'
                   f'<text class="tick" x="{LEFT - 6}" y="{y_of(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for i in range(5):
        ts = history.since + span * i / 4
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        out.append(f'<text class="tick" x="{x_of(ts):.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}">'
                   f'{when(ts, span)}</text>')
    for g in panel.guides:
        out.append(f'<line class="guide" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y_of(g.value):.1f}" '
                   f'y2="{y_of(g.value):.1f}"><title>{escape(g.label)}: {_fmt(g.value)}</title></line>'
                   f'<text class="guide-label" x="{LEFT + plot_w - 4}" y="{y_of(g.value) - 4:.1f}" '
                   f'text-anchor="end">{escape(g.label)}</text>')
    xs = [x_of(start + history.bucket_s / 2) for start in history.starts]
    for s in panel.series:
        colour = palette.get(f"{panel.key}:{s.name}", PALETTE[0])
        ys = [None if v is None else y_of(v) for v in s.values]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(f'<g class="series-group" data-series="{escape(s.name)}"><title>{escape(s.name)}</title>'
                   f'<path class="series" d="{_path(xs, ys)}" stroke="{colour}"{dash}/>')
        out += [f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>'
                for x, y in zip(xs, ys, strict=True) if y is not None]
        out.append("</g>")
    out += [_marker(m, x_of(m.at), span) for m in history.markers if history.since <= m.at <= history.until]
    if not panel.series:
        out.append(f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">'
                   f'{escape(panel.note or "no data")}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _marker(m: Marker, x: float, span: float) -> str:
    colour = MARKER_COLOURS[m.kind]
    line = (f'<line class="marker {m.kind}" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
            f'stroke="{colour}"><title>{escape(m.label)} · {when(m.at, span)} UTC</title></line>')
    return f'<a href="{escape(m.link)}">{line}</a>' if m.link else line
