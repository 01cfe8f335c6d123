"""Numbers for the info blobs: per-channel statistics, JSON-safe rounding, and the `series` the tab charts.

Infos hold 5 significant digits: enough for captions and charts, a fraction of the bytes; non-finite
values become None, so the JSON stays strict (the browser's JSON.parse rejects NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch


def channel_statistics(maps: torch.Tensor) -> dict[str, np.ndarray]:
    """Per (probe, channel) mean, max and dead fraction (share of activations <= 0) at full size.

    Non-finite activations are left out of all three; `nonfinite` counts them.
    """
    values = maps.detach().float().flatten(2)
    finite = torch.isfinite(values)
    count = finite.sum(dim=2).float()  # 0 where nothing is finite: the statistics become NaN -> null
    mean = torch.where(finite, values, torch.zeros_like(values)).sum(dim=2) / count
    peak = torch.where(finite, values, torch.full_like(values, -torch.inf)).amax(dim=2)
    dead = (finite & (values <= 0)).sum(dim=2) / count
    return {
        "mean": mean.cpu().numpy(),
        "max": peak.cpu().numpy(),
        "dead": dead.cpu().numpy(),
        "nonfinite": (~finite).sum(dim=2).cpu().numpy(),
    }


def rounded(values: np.ndarray | torch.Tensor) -> list | float | None:
    """Nested lists of floats with 5 significant digits; non-finite values become None (valid JSON)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().float().cpu().numpy()
    return _rounded_items(np.asarray(values).tolist())  # one conversion: per-item numpy scalars are slow


def _rounded_items(item: list | float) -> list | float | None:
    return [_rounded_items(inner) for inner in item] if isinstance(item, list) else round_number(float(item))


def round_number(value: float) -> float | None:
    """`value` with 5 significant digits, None when it is not finite."""
    return float(f"{value:.5g}") if math.isfinite(value) else None


def plain(value):
    """A tensor as JSON-ready lists (floats rounded), anything else as is."""
    if not isinstance(value, torch.Tensor):
        return value
    if value.is_floating_point():
        return rounded(value)
    return value.tolist()


def over_probes(per_probe: list[list[float | None]], combine: Callable[[list[float]], float]) -> list[float | None]:
    """Combine a rounded (probe, channel) table over probes, skipping nulls; None where a channel has none.

    Works on the rounded numbers the info holds, so a chart shows what the captions show.
    """
    columns = zip(*per_probe, strict=True)
    return [
        round_number(combine(kept)) if (kept := [v for v in column if v is not None]) else None for column in columns
    ]


def mean(values: list[float]) -> float:
    """The arithmetic mean of a non-empty list."""
    return sum(values) / len(values)
