"""Channels of two runs (or two steps, or two checkpoints) matched one to one by how their activations correlate.

Two trainings of one architecture learn similar channels under different numbers; what channel 5 of one
does may be channel 17 of the other. Each channel's activations on the same probe images (one column
of a (samples, channels) table: every probe at every position) are correlated with every channel of
the other table, and scipy's `linear_sum_assignment` picks the one-to-one matching of highest total
correlation. Torch-free: the plugin (numbers read from logged atlases) and the `compare` command
(feature maps of checkpoints) share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

WEAK_BELOW = 0.5  # a matched pair whose correlation is below this is reported as weak


@dataclass(frozen=True)
class Pair:
    """Channel `channel` of the first table matched to `other` of the second, with their Pearson correlation."""

    channel: int
    other: int
    correlation: float


@dataclass(frozen=True)
class Matching:
    """The optimal one-to-one matching of two channel sets, and what is left over or weak."""

    pairs: list[Pair]  # sorted by channel
    unmatched: list[int]  # first-table channels without a partner (it has more channels)
    other_unmatched: list[int]  # second-table channels without one
    threshold: float

    @property
    def weak(self) -> list[int]:
        """First-table channels whose match correlates below the threshold."""
        return [pair.channel for pair in self.pairs if pair.correlation < self.threshold]

    @property
    def mean_correlation(self) -> float | None:
        """Mean correlation of the matched pairs; None when nothing was matched."""
        return float(np.mean([pair.correlation for pair in self.pairs])) if self.pairs else None

    @property
    def share_above(self) -> float | None:
        """Share of matched pairs whose correlation is above the threshold; None when nothing was matched."""
        if not self.pairs:
            return None
        return sum(pair.correlation > self.threshold for pair in self.pairs) / len(self.pairs)

    def as_dict(self) -> dict:
        """The JSON answer of the plugin's align route and of `tb-cnnviz compare --json`."""
        return {
            "pairs": [{"channel": p.channel, "other": p.other, "correlation": p.correlation} for p in self.pairs],
            "unmatched": self.unmatched,
            "other_unmatched": self.other_unmatched,
            "weak": self.weak,
            "threshold": self.threshold,
            "mean_correlation": self.mean_correlation,
            "share_above": self.share_above,
        }


def correlation_matrix(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column of `first` (samples, A) with every column of `second` (samples, B).

    A constant column (no variance, so no correlation defined) correlates 0 with everything, never NaN:
    it says nothing about what the other channel does, and it must not win or block a match.
    """
    first, second = _table(first, "first"), _table(second, "second")
    if first.shape[0] != second.shape[0]:
        raise ValueError(
            f"the tables hold {first.shape[0]} and {second.shape[0]} samples; both must hold the same probes' "
            "activations, sample for sample"
        )
    first, second = _standardized(first), _standardized(second)
    return np.clip(first.T @ second / first.shape[0], -1.0, 1.0)


def match_channels(
    first: np.ndarray,
    second: np.ndarray,
    channels: Sequence[int] | None = None,
    other_channels: Sequence[int] | None = None,
    threshold: float = WEAK_BELOW,
) -> Matching:
    """The one-to-one matching of the columns of `first` and `second` of highest total correlation.

    `channels` / `other_channels` name the columns (default 0, 1, ...). When the counts differ, the
    larger side's channels that find no partner are listed as unmatched.
    """
    correlations = correlation_matrix(first, second)
    channels = list(range(correlations.shape[0])) if channels is None else [int(c) for c in channels]
    other_channels = list(range(correlations.shape[1])) if other_channels is None else [int(c) for c in other_channels]
    if (len(channels), len(other_channels)) != correlations.shape:
        raise ValueError(
            f"{len(channels)} and {len(other_channels)} channel names for tables of "
            f"{correlations.shape[0]} and {correlations.shape[1]} channels"
        )
    rows, columns = linear_sum_assignment(correlations, maximize=True)
    pairs = sorted(
        (Pair(channels[row], other_channels[column], round(float(correlations[row, column]), 6))
         for row, column in zip(rows, columns, strict=True)),
        key=lambda pair: pair.channel,
    )  # fmt: skip
    matched, other_matched = set(rows.tolist()), set(columns.tolist())
    return Matching(
        pairs=pairs,
        unmatched=sorted(channel for row, channel in enumerate(channels) if row not in matched),
        other_unmatched=sorted(channel for column, channel in enumerate(other_channels) if column not in other_matched),
        threshold=threshold,
    )


def _table(values: np.ndarray, name: str) -> np.ndarray:
    table = np.asarray(values, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 2:
        raise ValueError(f"the {name} table must be (samples, channels) with at least 2 samples, got {table.shape}")
    if not np.isfinite(table).all():
        raise ValueError(f"the {name} table holds NaN or Inf activations; correlations need finite numbers")
    return table


def _standardized(table: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit (population) variance; a constant column becomes all zeros."""
    centred = table - table.mean(axis=0)
    spread = np.sqrt((centred**2).mean(axis=0))
    constant = spread <= 1e-12 * (1.0 + np.abs(table).max(axis=0))
    return np.where(constant, 0.0, centred / np.where(constant, 1.0, spread))
