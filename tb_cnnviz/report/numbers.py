"""Numbers written as the tab writes them (frontend/format.js), and the tab's choice of filmstrip steps."""

from __future__ import annotations

import math


def format_number(value: float | None) -> str:
    """3 significant digits, an exponent only when really small or large: 0.123, 12.3, 1.23e+4 (formatNumber)."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e4):
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa}e{int(exponent):+d}"
    rounded = float(f"{value:.3g}")
    return "0" if rounded == 0 else repr(rounded).removesuffix(".0")


def format_percent(fraction: float | None) -> str:
    """A fraction as a percentage with one decimal: 0.1234 gives "12.3%" (formatPercent)."""
    return "n/a" if fraction is None else f"{fraction * 100:.1f}%"


def evenly_spaced(steps: list[int], count: int) -> list[int]:
    """`count` steps spread evenly over `steps`, first and last included (filmstrip.js's evenlySpaced)."""
    if count >= len(steps):
        return list(steps)
    if count == 1:
        return [steps[-1]]
    return [steps[math.floor(i * (len(steps) - 1) / (count - 1) + 0.5)] for i in range(count)]
