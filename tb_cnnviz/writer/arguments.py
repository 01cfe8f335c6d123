"""The callback's own numeric arguments, checked when it is made: each error names the argument and the value."""

from __future__ import annotations

import numbers


def check_counts(**counts) -> None:
    """Each of `counts` (argument name -> value) must be an int >= 1: TypeError for another type, else ValueError."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int >= 1, got {value!r} ({type(value).__name__})")
        if value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
