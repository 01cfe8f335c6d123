"""Filter images: for each chosen channel, an image grown from seeded noise that excites it most."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypedDict

import torch

from tb_cnnviz.methods.maximize import CHEAP_SETTINGS, DEFAULT_MEMORY_BUDGET, maximize_filters
from tb_cnnviz.methods.transforms import RobustnessTransforms
from tb_cnnviz.writer.atlas import single_atlas
from tb_cnnviz.writer.kinds.base import LayerKind
from tb_cnnviz.writer.kinds.options import check_image_optimization, optimization_settings
from tb_cnnviz.writer.pictures import unit_range_pictures
from tb_cnnviz.writer.record import Record, new_info
from tb_cnnviz.writer.statistics import rounded

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import LayerContext

NAME = "filters"


class FiltersInfo(TypedDict, total=False):
    """The kind's own info keys, beside contract.Info's (one atlas, one tile per channel)."""

    layer: str
    images: int  # atlases after the info: 1
    activations: list[float | None]  # each channel's mean activation on its own image


@dataclass
class Filters(LayerKind):
    """Filter-maximizing images (maximize_filters), from the same seed and channels at every step, so steps compare.

    `size`: None for the probes' size. The rest as in maximize_filters; `steps` defaults to its cheap
    setting for logging during training.
    """

    name: ClassVar[str] = NAME
    title: ClassVar[str] = "filter images"
    steps: int = CHEAP_SETTINGS["steps"]
    size: int | tuple[int, int] | None = None
    param: str = "fourier"
    decorrelate: bool = True
    transforms: bool | RobustnessTransforms | None = True
    optimizer: str = "adam"
    lr: float = 1.0
    lr_decay: bool = True
    coarse_scale: float | None = 0.5
    coarse_fraction: float = 0.75
    memory_budget: int = DEFAULT_MEMORY_BUDGET

    def __post_init__(self) -> None:
        super().__post_init__()
        check_image_optimization("Filters", self)
        if self.coarse_scale is not None and not 0 < self.coarse_scale <= 1:
            raise ValueError(f"Filters coarse_scale must be in (0, 1] or None, got {self.coarse_scale!r}")
        if not 0 <= self.coarse_fraction <= 1:
            raise ValueError(f"Filters coarse_fraction must be in [0, 1], got {self.coarse_fraction!r}")

    def records(self, context: LayerContext) -> Iterator[Record]:
        result = maximize_filters(
            context.model, context.module, context.channels, seed=context.seed, max_channels=None,
            size=self.size or context.probes.size, coarse_scale=self.coarse_scale,
            coarse_fraction=self.coarse_fraction, input_mean=context.probes.input_mean,
            input_std=context.probes.input_std, **optimization_settings(self),
        )  # fmt: skip
        yield Record(*render(context.layer, result.images, result.activations, result.channels))


def render(layer: str, images: torch.Tensor, activations: torch.Tensor, channels: list[int]) -> tuple[dict, list]:
    """Info and one atlas of the (K, C, S, S) filter images, in [0, 1], one tile per channel."""
    layout, atlas = single_atlas(unit_range_pictures(images))
    reached = rounded(activations)
    info = new_info(
        NAME, layer=layer, channels=list(channels), **layout, images=1, activations=reached,
        series={"activation": list(reached)},
    )  # fmt: skip
    return info, [atlas]
