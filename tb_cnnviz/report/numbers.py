"""Numbers written as the tab writes them (frontend/format.js), and the tab's choice of filmstrip steps."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def format_number(value: float | None) -> str:
    """3 significant digits, an exponent only when really small or large: 0.123, 12.3, 1.23e+4 (formatNumber)."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    rounded = _significant(value, 3)
    if magnitude != 0 and (magnitude < 1e-3 or magnitude >= 1e4):
        exponent = rounded.adjusted()
        return f"{rounded.scaleb(-exponent):.2f}e{exponent:+d}"
    number = float(rounded)
    return "0" if number == 0 else repr(number).removesuffix(".0")


def format_percent(fraction: float | None) -> str:
    """A fraction as a percentage with one decimal: 0.1234 gives "12.3%" (formatPercent)."""
    if fraction is None:
        return "n/a"
    return f"{Decimal(fraction * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def _significant(value: float, digits: int) -> Decimal:
    """`value` to `digits` significant digits as JavaScript's toPrecision rounds: a tie goes away from zero
    (Python's own formatting rounds a tie to even: 1.125 would read 1.12, where the tab writes 1.13)."""
    exact = Decimal(value)
    if exact == 0:
        return exact
    return exact.quantize(Decimal(1).scaleb(exact.adjusted() - digits + 1), rounding=ROUND_HALF_UP)


def evenly_spaced(steps: list[int], count: int) -> list[int]:
    """`count` steps spread evenly over `steps`, first and last included (filmstrip.js's evenlySpaced)."""
    if count >= len(steps):
        return list(steps)
    if count == 1:
        return [steps[-1]]
    return [steps[math.floor(i * (len(steps) - 1) / (count - 1) + 0.5)] for i in range(count)]
