"""Dynamics: how much each chosen layer (and each shown channel) changed since the previous and the first log.

No pictures: numbers only, in the info (charted by the tab's Dynamics view) and as TensorBoard scalars
cnnviz/<layer>/cka_previous, cka_first, dead_fraction and drift (TensorBoard's Time Series, beside the loss).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypedDict

import torch

from tb_cnnviz.methods.dynamics import (
    SAMPLES,
    RowSample,
    channel_correlation,
    dead_channels,
    gram_equivalent,
    linear_cka,
    row_sample,
    sampled_rows,
)
from tb_cnnviz.writer.kinds.base import LayerKind
from tb_cnnviz.writer.kinds.options import check_count
from tb_cnnviz.writer.record import Record, new_info, numbers_of
from tb_cnnviz.writer.reporting import warn
from tb_cnnviz.writer.statistics import round_number

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import LayerContext

NAME = "dynamics"
SETTLE_THRESHOLD = 0.05  # a layer is settled once 1 - cka_previous stays below this (a channel: its drift)
DEAD_ALARM = 0.5  # warn when more than this share of a layer's channels is dead


class DynamicsInfo(TypedDict, total=False):
    """The kind's own info keys, beside contract.Info's (channels, series "drift", scalars; no pictures)."""

    layer: str
    samples: int  # (probe, position) rows kept of the layer's output (methods/dynamics.py)
    projection: int  # columns kept of them: the channel count, or the row count if smaller (no loss for CKA)
    settle_threshold: float  # the option: what "settled" means for this run


@dataclass
class _LayerState:
    """What one layer keeps between logs: at most samples x min(channels, samples) + samples x shown numbers
    per table, two tables and one of shown channels, whatever the number of steps."""

    sample: RowSample
    first: torch.Tensor | None = None  # (samples, columns) float32: the first log's gram_equivalent table
    previous: torch.Tensor | None = None  # (samples, columns) float32: the previous log's
    previous_shown: torch.Tensor | None = None  # (samples, shown channels) float32: the shown channels' rows
    started_dead: float = 0.0  # the dead fraction at the first log: the alarm waits for a rise above it
    alarmed: bool = False  # the dead fraction is above the alarm's line now (warned once when it rose)


@dataclass
class Dynamics(LayerKind):
    """Per layer and log: linear CKA with the previous and the first log, per-channel drift, dead channels.

    Each layer's representation of the probes is kept as at most `samples` (probe, position) rows, the same
    ones at every log (drawn at its first log from the callback's seed; see methods/dynamics.py for the
    error this costs against exact CKA: under 0.02 on the demo at 2048). A channel's drift is 1 - the Pearson
    correlation of its sampled values with the previous log's. `settle_threshold` is stored with each log so
    readers say when a layer settled; `dead_alarm`: one CNNVizWarning when a layer's dead fraction rises above
    it (and above where it was at the layer's first log).
    """

    name: ClassVar[str] = NAME
    settle_threshold: float = SETTLE_THRESHOLD
    dead_alarm: float = DEAD_ALARM
    samples: int = SAMPLES
    _layers: dict[str, _LayerState] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        for option, low, high in (("settle_threshold", 0, 1), ("dead_alarm", 0, 1)):
            value = getattr(self, option)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
                raise ValueError(f"Dynamics {option} must be a number in ({low}, {high}], got {value!r}")
        check_count("Dynamics", "samples", self.samples, 2)

    def records(self, context: LayerContext) -> Iterator[Record]:
        maps, shown = context.maps, context.channels
        if context.layer not in self._layers:
            self._layers[context.layer] = _LayerState(row_sample(maps.shape, self.samples, seed=context.seed))
        state = self._layers[context.layer]
        rows = sampled_rows(maps, state.sample)
        now, shown_now = gram_equivalent(rows).float(), rows[:, shown].float()
        dead = dead_channels(maps)
        if state.first is None:
            state.first, state.started_dead = now, float(dead.float().mean())
        compared = state.previous is not None
        drift = 1 - channel_correlation(state.previous_shown, shown_now) if compared else None
        scalars = {
            "cka_previous": _fraction(linear_cka(state.previous, now)) if compared else None,
            "cka_first": _fraction(linear_cka(state.first, now)),
            "dead_fraction": _fraction(float(dead.float().mean())),
            "drift": _fraction(float(drift.nanmedian())) if compared else None,
        }
        state.previous, state.previous_shown = now, shown_now
        self._alarm(context, state, scalars["dead_fraction"], int(dead.sum()), len(dead))
        info = new_info(
            NAME, layer=context.layer, channels=list(shown),
            series={"drift": [_fraction(value) for value in drift.tolist()] if compared else [None] * len(shown)},
            scalars=scalars, samples=state.sample.samples, projection=now.shape[1],
            settle_threshold=self.settle_threshold,
        )  # fmt: skip
        yield Record(info, [], numbers_of(scalars))

    def _alarm(self, context: LayerContext, state: _LayerState, fraction: float, dead: int, channels: int) -> None:
        """Warn once when the layer's dead fraction rises above dead_alarm and above its first log's (again only
        after it fell back): an untrained layer or a few probes that leave it mostly dead from the start do not
        alarm, a layer whose channels die during training does."""
        above = fraction > max(self.dead_alarm, state.started_dead)
        if above and not state.alarmed:
            warn(
                f"layer {context.layer!r} at step {context.step}: {dead} of its {channels} channels are dead "
                f"({fraction:.0%}, above the dead_alarm of {self.dead_alarm:.0%}: never above 0 for any probe at "
                "any position); dying ReLUs? try a lower learning rate or a warm-up, LeakyReLU, or look for a "
                "large negative bias"
            )
        state.alarmed = above


def _fraction(value: float) -> float | None:
    """A number in [0, 2] to 6 decimals (float noise such as 1e-15 of an unchanged model reads 0); NaN -> None."""
    return round_number(round(value, 6)) if math.isfinite(value) else None
