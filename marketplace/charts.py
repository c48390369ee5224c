"""Tiny server-side SVG charts (pure functions, no Django): readable without JavaScript.

Every chart carries a <title> and <desc> and role="img", and the pages that show one also show
the same numbers as a table.
"""

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

PALETTE = ("#2563eb", "#d97706", "#059669", "#db2777")
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True)
class BarGroup:
    """One row of a grouped horizontal bar chart: a label and one value per series."""

    label: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Series:
    """One line of a line chart: (x, y) points with x a datetime or a number."""

    name: str
    points: tuple[tuple[datetime | float, float], ...]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high], spaced 1, 2 or 5 × 10^n apart."""
    if high < low:
        low, high = high, low
    if math.isclose(low, high):
        high = low + (abs(low) or 1.0)
    raw_step = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def money(value: float) -> str:
    return f"${value:,.2f}"


def _svg_open(width: int, height: int, title: str, desc: str) -> list[str]:
    ident = "chart-" + (re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "untitled")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" aria-labelledby="{ident}-t {ident}-d" {FONT}>',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc)}</desc>',
    ]


def _legend(series: Sequence[str], x: float, y: float) -> list[str]:
    parts = []
    for index, name in enumerate(series):
        left = x + index * 140
        parts.append(f'<rect x="{left:.1f}" y="{y - 9:.1f}" width="10" height="10" '
                     f'fill="{PALETTE[index % len(PALETTE)]}"/>')
        parts.append(f'<text x="{left + 14:.1f}" y="{y:.1f}">{escape(name)}</text>')
    return parts


def _empty(width: int, height: int, title: str) -> str:
    parts = _svg_open(width, height, title, "No data to chart.")
    parts.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle">No data</text>')
    return "\n".join([*parts, "</svg>"])


def bar_chart(groups: Sequence[BarGroup], *, series: Sequence[str], title: str,
              fmt: Callable[[float], str] = money, width: int = 640) -> str:
    """Grouped horizontal bars, one group per label, one bar per series; missing values are skipped."""
    values = [v for group in groups for v in group.values if v is not None]
    if not values:
        return _empty(width, 120, title)
    label_w, value_w, bar_h, gap, top = 170, 70, 14, 10, 34
    group_h = bar_h * len(series) + gap
    height = top + group_h * len(groups) + 24
    ticks = nice_ticks(0, max(values))
    scale = (width - label_w - value_w) / ticks[-1]
    desc = "; ".join(f"{g.label}: " + ", ".join(f"{name} {fmt(v)}" for name, v in zip(series, g.values, strict=False)
                                                 if v is not None) for g in groups)
    parts = _svg_open(width, height, title, desc)
    parts += _legend(series, label_w, 16)
    for tick in ticks:
        x = label_w + tick * scale
        parts.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" stroke="#d1d5db"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="#4b5563">{escape(fmt(tick))}</text>')
    for row, group in enumerate(groups):
        y0 = top + row * group_h
        parts.append(f'<text x="{label_w - 8}" y="{y0 + group_h / 2:.1f}" text-anchor="end" '
                     f'dominant-baseline="middle">{escape(group.label)}</text>')
        for index, value in enumerate(group.values):
            if value is None:
                continue
            y = y0 + index * bar_h
            parts.append(f'<rect x="{label_w}" y="{y:.1f}" width="{max(value * scale, 1):.1f}" '
                         f'height="{bar_h - 2}" fill="{PALETTE[index % len(PALETTE)]}">'
                         f'<title>{escape(f"{group.label} {series[index]}: {fmt(value)}")}</title></rect>')
            parts.append(f'<text x="{label_w + value * scale + 4:.1f}" y="{y + bar_h / 2:.1f}" '
                         f'dominant-baseline="middle" font-size="11">{escape(fmt(value))}</text>')
    return "\n".join([*parts, "</svg>"])


def _x_value(x: datetime | float) -> float:
    return x.timestamp() if isinstance(x, datetime) else float(x)


def _x_label(x: datetime | float) -> str:
    return x.strftime("%Y-%m-%d %H:%M") if isinstance(x, datetime) else f"{x:g}"


def _summary(line: Series, fmt: Callable[[float], str]) -> str:
    ordered = sorted(line.points, key=lambda p: _x_value(p[0]))
    ys = [y for _, y in ordered]
    return (f"{line.name}: {len(ys)} points from {_x_label(ordered[0][0])} to {_x_label(ordered[-1][0])}, "
            f"lowest {fmt(min(ys))}, highest {fmt(max(ys))}, latest {fmt(ys[-1])}")


def line_chart(series: Sequence[Series], *, title: str, fmt: Callable[[float], str] = money,
               width: int = 640, height: int = 260) -> str:
    """Step-free line chart of one or more series over a shared x axis (time or numbers)."""
    points = [p for s in series for p in s.points]
    if not points:
        return _empty(width, height, title)
    left, right, top, bottom = 64, 16, 30, 34
    xs = [_x_value(x) for x, _ in points]
    x_lo, x_hi = min(xs), max(xs)
    x_span = (x_hi - x_lo) or 1.0
    ticks = nice_ticks(min(y for _, y in points), max(y for _, y in points), 4)
    y_lo, y_span = ticks[0], (ticks[-1] - ticks[0]) or 1.0
    plot_w, plot_h = width - left - right, height - top - bottom

    def at(x, y) -> str:
        px = left + (_x_value(x) - x_lo) / x_span * plot_w if x_hi > x_lo else left + plot_w / 2
        return f"{px:.1f},{top + plot_h - (y - y_lo) / y_span * plot_h:.1f}"

    desc = "; ".join(_summary(s, fmt) for s in series if s.points)
    parts = _svg_open(width, height, title, desc)
    parts += _legend([s.name for s in series], left, 16)
    for tick in ticks:
        y = top + plot_h - (tick - y_lo) / y_span * plot_h
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(f'<text x="{left - 6}" y="{y:.1f}" text-anchor="end" dominant-baseline="middle" '
                     f'fill="#4b5563">{escape(fmt(tick))}</text>')
    first, last = min(points, key=lambda p: _x_value(p[0]))[0], max(points, key=lambda p: _x_value(p[0]))[0]
    parts.append(f'<text x="{left}" y="{height - 10}" fill="#4b5563">{escape(_x_label(first))}</text>')
    if x_hi > x_lo:
        parts.append(f'<text x="{width - right}" y="{height - 10}" text-anchor="end" '
                     f'fill="#4b5563">{escape(_x_label(last))}</text>')
    for index, line in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        ordered = sorted(line.points, key=lambda p: _x_value(p[0]))
        if len(ordered) > 1:
            coords = " ".join(at(x, y) for x, y in ordered)
            parts.append(f'<polyline points={quoteattr(coords)} fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in ordered:
            cx, cy = at(x, y).split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}">'
                         f'<title>{escape(f"{line.name} {_x_label(x)}: {fmt(y)}")}</title></circle>')
    return "\n".join([*parts, "</svg>"])
