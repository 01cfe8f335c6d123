"""Filter images: for each chosen channel, an image grown from seeded noise that excites it most."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypedDict

import torch

from tb_cnnviz.methods.capture import each_feature_map
from tb_cnnviz.methods.dynamics import pairwise_cosine
from tb_cnnviz.methods.input_space import normalizer
from tb_cnnviz.methods.layers import unwrap_model
from tb_cnnviz.methods.maximize import CHEAP_SETTINGS, DEFAULT_MEMORY_BUDGET, OBJECTIVES, maximize_filters
from tb_cnnviz.methods.model_state import model_device, model_dtype
from tb_cnnviz.methods.receptive_field import receptive_field
from tb_cnnviz.methods.transforms import RobustnessTransforms
from tb_cnnviz.writer.atlas import single_atlas
from tb_cnnviz.writer.kinds.base import LayerKind
from tb_cnnviz.writer.kinds.options import check_choice, check_image_optimization, optimization_settings
from tb_cnnviz.writer.pictures import unit_range_pictures
from tb_cnnviz.writer.record import Record, new_info, numbers_of
from tb_cnnviz.writer.statistics import round_number, rounded

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import LayerContext

NAME = "filters"
# Filter images cost ~25-30 training steps of batch 128 per log on resnet18 at 32 px (5 default layers, 64
# channels, 32 steps): 6-11% of a CIFAR epoch, so every 10th log keeps them near 1% (issue 12's budget: 2%),
# and a 100-epoch run still shows 10 of them. Small models can afford every=1 (the demo does).
EVERY = 10
# Adam moves each Fourier coefficient by about lr per step, about lr per pixel whatever the size; at 1.0 the
# first steps overshoot: on the demo's conv3 (24 px, centre units) one channel then ends at -0.29, while 0.5
# brings all 64 above zero with a higher mean (5.30 against 5.16; see tests/test_filter_quality.py).
LR = 0.5
BLUR = 0.1  # see the class docstring
MIN_FITTED_SIZE = 16  # pixels: below this, jitter and rotation leave too little image to see
FITTED_SIZE_STEP = 8  # fitted sizes are rounded up to a multiple of this


class FiltersInfo(TypedDict, total=False):
    """The kind's own info keys, beside contract.Info's (one atlas, one tile per channel).

    Its series "similarity": per channel, the mean cosine of its image's layer response to the other channels'
    (scalars "similarity": their mean over channels): near 1, the channels all learned the same thing.
    """

    layer: str
    images: int  # atlases after the info: 1
    activations: list[float | None]  # each channel's objective (its centre unit by default) on its own image


@dataclass
class Filters(LayerKind):
    """Filter-maximizing images (maximize_filters), from the same seed and channels at every step, so steps compare.

    `size`: None fits the layer: its units' receptive field (measured once), rounded up to a multiple of
    8, at least 16 px and at most the probes' size, so early layers cost little; or an int / (H, W).
    `objective` "centre" (default) maximizes the channel's centre unit, whose field the fitted size covers;
    "mean" the channel's mean over all positions, which at a receptive field's size is mostly units that
    see the padding (on the demo's conv3 five channels alive on real images ended below zero).
    `blur` 0.1 (ImageParam.blurred) damps high frequencies at every step: without it the demo's conv3 images
    are blobs sprinkled with one-pixel speckle; with it smooth shapes, at 9% less mean activation (5.30 to
    4.81), all 64 still positive. maximize_filters' own default is 0: it costs exact optima (three of the
    analytic first-layer optima drop to 9-21%) and 25-30% of vgg11 features.8's activation at 128 px.
    Logged at every 10th log by default (`every=`), the costliest kind. The rest as in maximize_filters;
    `steps` defaults to its cheap setting for logging during training, `lr` to 0.5 (see LR).
    """

    name: ClassVar[str] = NAME
    title: ClassVar[str] = "filter images"
    every: int = field(default=EVERY, kw_only=True)
    steps: int = CHEAP_SETTINGS["steps"]
    size: int | tuple[int, int] | None = None
    param: str = "fourier"
    decorrelate: bool = True
    transforms: bool | RobustnessTransforms | None = True
    optimizer: str = "adam"
    lr: float = LR
    lr_decay: bool = True
    coarse_scale: float | None = 0.5
    coarse_fraction: float = 0.75
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    objective: str = "centre"
    blur: float = BLUR
    _sizes: dict[str, tuple[int, int]] = field(default_factory=dict, init=False, repr=False)  # fitted, per layer

    def __post_init__(self) -> None:
        super().__post_init__()
        check_image_optimization("Filters", self)
        check_choice("Filters", "objective", self.objective, list(OBJECTIVES))
        if isinstance(self.blur, bool) or not isinstance(self.blur, (int, float)) or self.blur < 0:
            raise ValueError(f"Filters blur must be a number >= 0, got {self.blur!r}")
        if self.coarse_scale is not None and not 0 < self.coarse_scale <= 1:
            raise ValueError(f"Filters coarse_scale must be in (0, 1] or None, got {self.coarse_scale!r}")
        if not 0 <= self.coarse_fraction <= 1:
            raise ValueError(f"Filters coarse_fraction must be in [0, 1], got {self.coarse_fraction!r}")

    def records(self, context: LayerContext) -> Iterator[Record]:
        result = maximize_filters(
            context.model, context.module, context.channels, seed=context.seed, max_channels=None,
            size=self.size or self._fitted_size(context), coarse_scale=self.coarse_scale,
            coarse_fraction=self.coarse_fraction, input_mean=context.probes.input_mean,
            input_std=context.probes.input_std, objective=self.objective, blur=self.blur,
            **optimization_settings(self),
        )  # fmt: skip
        info, pictures = render(context.layer, result.images, result.activations, result.channels)
        similarity, per_channel = pairwise_cosine(self._responses(context, result.images))
        info["series"]["similarity"] = rounded(per_channel)
        info["scalars"] = {"similarity": round_number(similarity)}
        yield Record(info, pictures, numbers_of(info["scalars"]))

    def _responses(self, context: LayerContext, images: torch.Tensor) -> torch.Tensor:
        """(K, C): what the layer's every channel makes of each filter image, read as the objective reads one
        channel (its centre unit, or its mean); one forward of K images, about one of the ascent's steps."""
        network = unwrap_model(context.model)
        normalize = normalizer(
            context.probes.input_mean, context.probes.input_std, images.shape[1], model_device(network),
            model_dtype(network),
        )  # fmt: skip
        maps = each_feature_map(network, normalize(images), {context.layer: context.module})[0][context.layer]
        return OBJECTIVES[self.objective](maps.flatten(0, 1)).view(maps.shape[:2])

    def _fitted_size(self, context: LayerContext) -> tuple[int, int]:
        """The layer's image size, fixed at its first log: its field, rounded up, within [16, the probes' size]."""
        if context.layer not in self._sizes:
            images = context.probes.images
            field_ = receptive_field(context.model, context.module, context.probes.size, images.shape[1])
            self._sizes[context.layer] = fitted_size(field_.patch_size, context.probes.size)
        return self._sizes[context.layer]


def fitted_size(field_size: tuple[int, int], probe_size: tuple[int, int]) -> tuple[int, int]:
    """(H, W) of filter images for units that see `field_size`: rounded up to 8, at least 16, at most the probes'."""
    return tuple(
        min(limit, max(MIN_FITTED_SIZE, FITTED_SIZE_STEP * math.ceil(side / FITTED_SIZE_STEP)))
        for side, limit in zip(field_size, probe_size, strict=True)
    )


def render(layer: str, images: torch.Tensor, activations: torch.Tensor, channels: list[int]) -> tuple[dict, list]:
    """Info and one atlas of the (K, C, S, S) filter images, in [0, 1], one tile per channel."""
    layout, atlas = single_atlas(unit_range_pictures(images))
    reached = rounded(activations)
    info = new_info(
        NAME, layer=layer, channels=list(channels), **layout, images=1, activations=reached,
        series={"activation": list(reached)},
    )  # fmt: skip
    return info, [atlas]
