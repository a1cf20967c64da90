"""Bar and line charts as inline SVG, drawn on the server with no dependency.

Each chart is a `<figure>` holding:

- a visible `<figcaption>` with the title;
- the `<svg role="img">`, labelled by its own `<title>` and `<desc>`
  (`aria-labelledby`), so a screen reader announces one image with a title and
  a short summary; the shapes inside are not read one by one;
- a `<details>` with the figures as a `<table>` (caption, column and row headers),
  for screen readers and for anyone who wants the numbers.

Every piece of text (titles, labels, series names) is HTML-escaped here, and the
result is `markupsafe.Markup`, so a Jinja2 template with autoescape inserts it
as is. Colours reach at least 4.5:1 against white (WCAG AA for text, more than
the 3:1 graphics need), and series differ by dash pattern and marker as well as
by colour.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, List, Sequence

from markupsafe import Markup, escape

#: Series colours, each at least 4.5:1 on white.
PALETTE = ("#0B5CAD", "#A63D00", "#1B7340", "#7A3E9D", "#4D4D4D")
#: Dash patterns of the line chart's series, in order (solid first).
DASHES = ("", "6 4", "2 3", "8 3 2 3", "1 2")
TEXT_COLOUR = "#1A1A1A"
GRID_COLOUR = "#C8C8C8"
FONT = "font-family=\"system-ui, sans-serif\" font-size=\"12\""
WIDTH = 640


@dataclass(frozen=True)
class Series:
    """A named list of values, one per label."""

    name: str
    values: Sequence[float]


def _number(value: float) -> str:
    """A value as shown on axes and in tables: whole numbers plainly, else 2 decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}"


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 (or 2.5 from 25 up) times a power of ten at least `value`.

    Returns 1 for 0 or less. Used for the axis step, so ticks stay round numbers
    (no 7.5 messages).
    """
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    steps = (1, 2, 2.5, 5, 10) if power >= 10 else (1, 2, 5, 10)
    for step in steps:
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover (the loop always returns)


def axis_maximum(largest: float, ticks: int = 4) -> float:
    """The top of an axis of `ticks` equal round steps that holds `largest`."""
    return ticks * nice_ceiling(largest / ticks)


def _ids(chart_id: str) -> str:
    """A chart id made safe for id attributes."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", chart_id)
    return safe if safe[:1].isalpha() else f"chart-{safe}"


def _svg_open(chart_id: str, title: str, description: str, height: int) -> List[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" class="chart-svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<rect width="{WIDTH}" height="{height}" fill="#FFFFFF"/>',
    ]


def _legend(series: Sequence[Series], y: int, line: bool) -> List[str]:
    parts = []
    x = 12
    for index, item in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        if line:
            dash = DASHES[index % len(DASHES)]
            parts.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 24}" y2="{y - 4}" '
                         f'stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/>')
            x += 30
        else:
            parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>')
            x += 18
        parts.append(f'<text x="{x}" y="{y}" fill="{TEXT_COLOUR}" {FONT}>'
                     f'{escape(item.name)}</text>')
        x += 8 * len(item.name) + 24
    return parts


def _table(chart_id: str, title: str, first_column: str, labels: Sequence[str],
           series: Sequence[Series], formatter: Callable[[float], str]) -> str:
    head = "".join(f'<th scope="col">{escape(s.name)}</th>' for s in series)
    rows = []
    for index, label in enumerate(labels):
        cells = "".join(f"<td>{escape(formatter(s.values[index]))}</td>" for s in series)
        rows.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>')
    if not rows:
        rows.append(f'<tr><td colspan="{len(series) + 1}">No data in this period.</td></tr>')
    return (f'<details class="chart-data"><summary>Data table: {escape(title)}</summary>'
            f'<table id="{chart_id}-table"><caption>{escape(title)}</caption>'
            f'<thead><tr><th scope="col">{escape(first_column)}</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></details>')


def _figure(chart_id: str, title: str, svg: List[str], table: str) -> Markup:
    return Markup(f'<figure class="chart" id="{chart_id}">'
                  f'<figcaption><h2 class="chart-title">{escape(title)}</h2></figcaption>'
                  f'{"".join(svg)}</svg>{table}</figure>')


def _check(labels: Sequence[str], series: Sequence[Series]) -> None:
    if not series:
        raise ValueError("a chart needs at least one series")
    for item in series:
        if len(item.values) != len(labels):
            raise ValueError(f"series {item.name!r} has {len(item.values)} values "
                             f"for {len(labels)} labels")


def bar_chart(chart_id: str, title: str, description: str, labels: Sequence[str],
              series: Sequence[Series], label_heading: str = "",
              formatter: Callable[[float], str] = _number) -> Markup:
    """A horizontal bar chart (grouped bars with several series) and its data table.

    Args:
        chart_id: A page-unique id (the figure's; the title, description and table
            ids derive from it).
        title: What the chart shows (the SVG's `<title>` and the table's caption).
        description: A sentence or two on what it shows (the SVG's `<desc>`).
        labels: One per bar (group), top to bottom.
        series: The values, one list per series, in the order of `labels`.
        label_heading: The heading of the table's first column.
        formatter: How values are written.
    """
    _check(labels, series)
    chart_id = _ids(chart_id)
    left, right, top = 230, 60, 12 + (22 if len(series) > 1 else 0)
    bar, gap = 16, 10
    group = bar * len(series)
    height = top + len(labels) * (group + gap) + 28 if labels else top + 60
    svg = _svg_open(chart_id, title, description, height)
    if len(series) > 1:
        svg += _legend(series, 22, line=False)
    largest = max((v for s in series for v in s.values), default=0.0)
    scale = axis_maximum(largest)
    span = WIDTH - left - right
    if not labels:
        svg.append(f'<text x="{WIDTH // 2}" y="{top + 30}" text-anchor="middle" '
                   f'fill="{TEXT_COLOUR}" {FONT}>No data in this period</text>')
    for row, label in enumerate(labels):
        y = top + row * (group + gap)
        shown = label if len(label) <= 30 else f"{label[:29]}…"  # whole in the table
        svg.append(f'<text x="{left - 8}" y="{y + group / 2 + 4:.1f}" text-anchor="end" '
                   f'fill="{TEXT_COLOUR}" {FONT}>{escape(shown)}</text>')
        for index, item in enumerate(series):
            value = float(item.values[row])
            length = span * value / scale if scale else 0.0
            colour = PALETTE[index % len(PALETTE)]
            by = y + index * bar
            svg.append(f'<rect x="{left}" y="{by}" width="{length:.1f}" height="{bar - 2}" '
                       f'fill="{colour}"/>')
            svg.append(f'<text x="{left + length + 4:.1f}" y="{by + bar - 5}" '
                       f'fill="{TEXT_COLOUR}" {FONT}>{escape(formatter(value))}</text>')
    svg.append(f'<line x1="{left}" y1="{top - 4}" x2="{left}" y2="{height - 24}" '
               f'stroke="{TEXT_COLOUR}"/>')
    table = _table(chart_id, title, label_heading, labels, series, formatter)
    return _figure(chart_id, title, svg, table)


def line_chart(chart_id: str, title: str, description: str, labels: Sequence[str],
               series: Sequence[Series], label_heading: str = "",
               formatter: Callable[[float], str] = _number) -> Markup:
    """A line chart over `labels` (e.g. days), one line per series, and its data table.

    Args:
        chart_id: A page-unique id (see `bar_chart`).
        title: What the chart shows.
        description: A sentence or two on what it shows.
        labels: The x-axis points, left to right.
        series: One line each, values in the order of `labels`.
        label_heading: The heading of the table's first column.
        formatter: How values are written.
    """
    _check(labels, series)
    chart_id = _ids(chart_id)
    left, right, top, bottom, height = 56, 16, 34, 40, 280
    svg = _svg_open(chart_id, title, description, height)
    svg += _legend(series, 20, line=True)
    largest = max((v for s in series for v in s.values), default=0.0)
    scale = axis_maximum(largest)
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    for tick in range(5):
        value = scale * tick / 4
        y = top + plot_h - plot_h * tick / 4
        svg.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" '
                   f'stroke="{GRID_COLOUR}" stroke-width="1"/>')
        svg.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" '
                   f'fill="{TEXT_COLOUR}" {FONT}>{escape(formatter(value))}</text>')
    count = len(labels)

    def x_of(index: int) -> float:
        return left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    every = max(1, math.ceil(count / 8))
    for index in range(0, count, every):
        svg.append(f'<text x="{x_of(index):.1f}" y="{height - bottom + 18}" '
                   f'text-anchor="middle" fill="{TEXT_COLOUR}" {FONT}>'
                   f"{escape(labels[index])}</text>")
    if not count:
        svg.append(f'<text x="{WIDTH // 2}" y="{top + plot_h // 2}" text-anchor="middle" '
                   f'fill="{TEXT_COLOUR}" {FONT}>No data in this period</text>')
    for index, item in enumerate(series):
        colour, dash = PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]
        points = " ".join(
            f"{x_of(n):.1f},{top + plot_h - plot_h * float(v) / scale:.1f}"
            for n, v in enumerate(item.values))
        if count > 1:
            svg.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                       f'stroke-width="2.5" stroke-dasharray="{dash}"/>')
        if count <= 31:
            for n, v in enumerate(item.values):
                svg.append(f'<circle cx="{x_of(n):.1f}" '
                           f'cy="{top + plot_h - plot_h * float(v) / scale:.1f}" r="3" '
                           f'fill="{colour}"/>')
    svg.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - right}" '
               f'y2="{top + plot_h}" stroke="{TEXT_COLOUR}"/>')
    table = _table(chart_id, title, label_heading, labels, series, formatter)
    return _figure(chart_id, title, svg, table)


def contrast_ratio(foreground: str, background: str = "#FFFFFF") -> float:
    """The WCAG 2 contrast ratio of two `#RRGGBB` colours."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else float(((c + 0.055) / 1.055) ** 2.4)
                  for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return float((lighter + 0.05) / (darker + 0.05))
