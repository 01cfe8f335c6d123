"""Feature maps: what each chosen channel of a layer makes of each probe, with per-channel statistics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypedDict

import torch

from tb_cnnviz.writer.atlas import grid_shape, pack_atlas
from tb_cnnviz.writer.kinds.base import LayerKind
from tb_cnnviz.writer.pictures import fit_tiles, quantize
from tb_cnnviz.writer.record import Record, new_info
from tb_cnnviz.writer.reporting import warn
from tb_cnnviz.writer.statistics import channel_statistics, mean, over_probes, rounded

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import LayerContext

NAME = "feature_maps"


class FeatureMapsInfo(TypedDict, total=False):
    """The kind's own info keys, beside contract.Info's (one atlas per probe)."""

    layer: str
    shape: list[int]  # the layer's output (C, H, W)
    tile_range: list[list[list[float | None]]]  # (probe, channel) -> [low, high] each tile was stretched from
    stats: dict[str, list[list[float | None]]]  # mean, max, dead: (probe, channel) at full size
    nonfinite: list[list[int]]  # (probe, channel) count of non-finite activations; only when there are some


@dataclass
class FeatureMaps(LayerKind):
    """Each chosen channel's output for each probe, tiles average-pooled to the callback's max_tile_size."""

    name: ClassVar[str] = NAME

    def records(self, context: LayerContext) -> Iterator[Record]:
        info, pictures = render(context.layer, context.maps, context.channels, context.max_tile_size)
        if "nonfinite" in info:
            warn(
                f"layer {context.layer!r} has non-finite activations at step {context.step}; they are drawn "
                "as the tile's minimum and left out of the statistics"
            )
        yield Record(info, pictures)


def render(layer: str, maps: torch.Tensor, channels: list[int], max_tile_size: int) -> tuple[dict, list]:
    """Info and one atlas per probe of a layer's (N, C, H, W) output; each tile stretched to its own range."""
    shown = maps[:, channels]
    stats = channel_statistics(shown)
    pixels, ranges = quantize(fit_tiles(shown.float(), max_tile_size))
    grid = grid_shape(len(channels))
    table = {key: rounded(stats[key]) for key in ("mean", "max", "dead")}
    info = new_info(
        NAME,
        layer=layer,
        shape=list(maps.shape[1:]),
        channels=list(channels),
        tile=list(pixels.shape[-2:]),
        grid=list(grid),
        probes=len(maps),
        tile_range=rounded(ranges),
        stats=table,
        series={
            "mean": over_probes(table["mean"], mean),
            "max": over_probes(table["max"], max),
            "dead": over_probes(table["dead"], mean),
        },
    )
    nonfinite = stats["nonfinite"]
    if nonfinite.any():
        info["nonfinite"] = nonfinite.tolist()
    return info, [pack_atlas(probe, grid) for probe in pixels]
