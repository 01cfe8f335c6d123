"""Inline SVG charts as text: a line chart drawn as the tab's charts.js draws it, and a layer x step heat map.

Every name goes through html.escape; the plotted numbers ride along as data-* attributes (for tests).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable

from tb_cnnviz.report.numbers import format_number

_WIDTH, _HEIGHT = 260, 72
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 8, 16, 16
_LINE, _AXIS, _TEXT = "#e65100", "#9e9e9e", "#424242"  # charts.js's CHART_COLOURS


def _known(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _text(x: float, y: float, text: str, anchor: str = "start", size: int = 10) -> str:
    return (
        f'<text x="{x:g}" y="{y:g}" font-size="{size}" text-anchor="{anchor}" fill="{_TEXT}">{html.escape(text)}</text>'
    )


def line_chart(
    label: str,
    steps: list[int],
    values: list[float | None],
    value_range: tuple[float, float] | None = None,
    write: Callable[[float], str] = format_number,
) -> str:
    """A chart of `values` (one per step, None for a gap) titled `label`, with a dot on every known value."""
    known = [value for value in values if _known(value)]
    low, high = value_range or ((min(known), max(known)) if known else (0.0, 1.0))
    if high == low:
        low, high = low - 1, high + 1
    x0, x1, y0, y1 = _LEFT, _WIDTH - _RIGHT, _HEIGHT - _BOTTOM, _TOP
    first, span = (steps[0], max(1, steps[-1] - steps[0])) if steps else (0, 1)

    def point(step: int, value: float) -> tuple[float, float]:
        value = min(high, max(low, value))
        return x0 + (step - first) / span * (x1 - x0), y0 - (value - low) / (high - low) * (y0 - y1)

    summary = (
        f"{label}: {write(known[0])} at step {steps[0]}, {write(known[-1])} at step {steps[-1]}"
        if known
        else f"{label}: no values"
    )
    parts = [
        _text(0, 11, label, size=11),
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="{_AXIS}"/>',
        f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="{_AXIS}"/>',
        _text(x0 - 4, y1 + 4, write(high), "end"),
        _text(x0 - 4, y0, write(low), "end"),
    ]
    if steps:
        parts += [_text(x0, _HEIGHT - 2, str(steps[0])), _text(x1, _HEIGHT - 2, str(steps[-1]), "end")]
    runs, current = [], []  # one polyline per run of known values: a gap stays a gap
    for step, value in zip(steps, values, strict=True):
        if _known(value):
            current.append(point(step, value))
        elif current:
            runs.append(current)
            current = []
    runs += [current] if current else []
    for points in runs:
        if len(points) > 1:
            joined = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{joined}" fill="none" stroke="{_LINE}" stroke-width="1.5"/>')
        parts += [f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{_LINE}"/>' for x, y in points]
    data = html.escape(json.dumps({"steps": steps, "values": values}))
    return (
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}" role="img" '
        f'aria-label="{html.escape(summary)}" data-series="{data}">{"".join(parts)}</svg>'
    )


def heat_map(layers: list[str], steps: list[int], values: list[list[float | None]], label: str) -> str:
    """Rows of layers, columns of steps, each cell's colour its value (white 0 to dark orange at the highest)."""
    cell = max(8, min(28, 640 // max(1, len(steps))))
    name_width, head = 130, 18
    known = [value for row in values for value in row if _known(value)]
    high = max(known) if known and max(known) > 0 else 1.0
    width, height = max(name_width + cell * len(steps) + 4, 400), head + cell * len(layers) + 16  # room for the scale
    bottom = head + cell * len(layers) + 12
    parts = [_text(name_width, 12, f"white 0, darkest {format_number(high)}; grey: no value", size=11)]
    if steps:
        last = name_width + cell * len(steps) - 1
        parts += [_text(name_width, bottom, str(steps[0])), _text(last, bottom, str(steps[-1]), "end")]
    for row, (layer, cells) in enumerate(zip(layers, values, strict=True)):
        y = head + row * cell
        parts.append(_text(name_width - 4, y + cell / 2 + 4, _shortened(layer), "end"))
        for column, (step, value) in enumerate(zip(steps, cells, strict=True)):
            fill = _orange(value / high) if _known(value) else "#dddddd"
            title = f"{layer}, step {step}: {format_number(value) if _known(value) else 'no value'}"
            parts.append(
                f'<rect class="cell" x="{name_width + column * cell}" y="{y}" width="{cell - 1}" height="{cell - 1}" '
                f'fill="{fill}"><title>{html.escape(title)}</title></rect>'
            )
    data = html.escape(json.dumps({"layers": layers, "steps": steps, "values": values}))
    return (
        f'<svg class="heat-map" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(label)}" data-heat="{data}">{"".join(parts)}</svg>'
    )


def _shortened(name: str, most: int = 18) -> str:
    return name if len(name) <= most else "…" + name[-(most - 1) :]


def _orange(share: float) -> str:
    """White at 0 to charts.js's line colour (#e65100) at 1."""
    share = min(1.0, max(0.0, share))
    red, green, blue = (round(255 + (end - 255) * share) for end in (0xE6, 0x51, 0x00))
    return f"#{red:02x}{green:02x}{blue:02x}"
