"""Deconvnet (Zeiler & Fergus 2014): each probe's strongest channels projected back to input space,
plus, with a dataset, each channel's top 9 dataset patches and their projections ("deconv_top").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypedDict

import torch

from tb_cnnviz.methods.deconv import deconvnet
from tb_cnnviz.methods.indices import checked_indices
from tb_cnnviz.methods.relu_rules import RULES
from tb_cnnviz.methods.top_activations import top_activations
from tb_cnnviz.writer.atlas import grid_shape, pack_atlas
from tb_cnnviz.writer.kinds.base import LayerKind
from tb_cnnviz.writer.kinds.options import check_choice, check_count
from tb_cnnviz.writer.pictures import crop_patches, display_images, signed_pictures
from tb_cnnviz.writer.record import Record, new_info
from tb_cnnviz.writer.reporting import guarded
from tb_cnnviz.writer.statistics import rounded

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import LayerContext

NAME = "deconv"
TOP = "deconv_top"  # the dataset's top patches: a second record kind of this module, its own tag
TOP_K = 9  # patches per channel, as in the paper's figure 2
# Projections cost ~1 training step of batch 128 per layer per log on resnet18 at 32 px and ~0.9 MB per
# step for 5 layers: every other log keeps them well under 2% of an epoch and halves the bytes they add.
EVERY = 2


class DeconvInfo(TypedDict, total=False):
    """Keys of a "deconv" info beside contract.Info's (one atlas per probe; `channels` one list per probe)."""

    layer: str
    rule: str  # the ReLU backward rule: "deconvnet" or "guided"
    activations: list[list[float | None]]  # (probe, position) the projected unit's value
    inactive: list[list[bool]]  # (probe, position) its value is not positive: projected from its magnitude
    boxes: list[list[list[int]]]  # (probe, position) [top, left, bottom, right] of the unit's field in the image
    patch_starts: list[list[list[int]]]  # (probe, position) [row, col] where each tile's crop starts


class DeconvTopInfo(TypedDict, total=False):
    """Keys of a "deconv_top" info beside contract.Info's (two atlases: patches, projections; a row per channel)."""

    layer: str
    k: int  # patches per channel
    values: list[list[float | None]]  # (channel, rank) activation of each patch
    inactive: list[list[bool]]  # (channel, rank) the value is not positive: projected from its magnitude
    indices: list[list[int]]  # (channel, rank) the patch's image index in the dataset


@dataclass
class Deconv(LayerKind):
    """For each probe, the fixed `channels` and its `top_channels` strongest ones, projected with `rule`.

    With a `dataset` (a tensor (N, C, H, W) or an iterable of batches) also the top 9 patches per shown
    channel, at steps that are multiples of `dataset_every` (streaming a dataset costs far more).
    Logged at every other log by default (`every=`; see EVERY).
    """

    name: ClassVar[str] = NAME
    title: ClassVar[str] = "deconvnet"
    every: int = field(default=EVERY, kw_only=True)
    rule: str = "deconvnet"
    top_channels: int = 8
    channels: Sequence[int] = ()
    dataset: torch.Tensor | Iterable | None = field(default=None, repr=False)
    dataset_every: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("Deconv", "rule", self.rule, RULES)
        check_count("Deconv", "top_channels", self.top_channels, 0)
        check_count("Deconv", "dataset_every", self.dataset_every, 1)
        self.channels = [int(channel) for channel in self.channels]

    def records(self, context: LayerContext) -> Iterator[Record]:
        yield self._projections(context)
        if self.dataset is not None and context.step % self.dataset_every == 0:
            what = f"dataset top activations of {context.layer!r}"
            top = guarded(what, self._top_activations, context)
            if top is not None:
                yield top

    def _projections(self, context: LayerContext) -> Record:
        """Project, for each probe, the fixed channels and the channels it excites most at this step."""
        count, channels = context.maps.shape[:2]
        fixed = checked_indices(self.channels, channels, "Deconv channels", f"layer {context.layer!r}")
        strength = context.maps.detach().float().amax(dim=(2, 3)).cpu()
        strength[:, fixed] = -torch.inf
        strongest = strength.topk(min(self.top_channels, channels - len(fixed)), dim=1).indices
        table = torch.cat([torch.tensor(fixed, dtype=torch.long).expand(count, -1), strongest], dim=1)
        result = deconvnet(context.model, context.probes.images, context.module, table, rule=self.rule)
        starts = result.receptive_field.patch_starts(result.positions.cpu())
        info, pictures = render(
            context.layer, result.rule, result.projections, table, result.activations, result.boxes, starts,
            result.receptive_field.patch_size,
        )  # fmt: skip
        return Record(info, pictures)

    def _top_activations(self, context: LayerContext) -> Record:
        """Zeiler & Fergus figure 2: per channel, the 9 strongest dataset patches and their projections."""
        top = top_activations(
            context.model, self.dataset, context.module, context.channels, k=TOP_K, project=self.rule, progress=False
        )
        info, pictures = render_top(
            context.layer, top.channels, top.values, top.indices, top.patches, top.projections,
            context.probes.input_mean, context.probes.input_std,
        )  # fmt: skip
        return Record(info, pictures)


def render(
    layer: str,
    rule: str,
    projections: torch.Tensor,
    channels: torch.Tensor,
    activations: torch.Tensor,
    boxes: torch.Tensor,
    patch_starts: torch.Tensor,
    patch_size: tuple[int, int],
) -> tuple[dict, list]:
    """Info and one atlas per probe of its (N, K, C, H, W) projections, cropped to the units' fields.

    Each tile is the projection under its unit's receptive field (`patch_starts`, `patch_size`, zeros
    outside the image), so the browser can show it beside the same crop of the probe image.
    """
    count, per_probe = projections.shape[:2]
    tiles = crop_patches(projections.detach().float().cpu(), patch_starts.cpu(), patch_size)
    pictures = signed_pictures(tiles.flatten(0, 1))
    pictures = pictures.reshape(count, per_probe, *pictures.shape[1:])
    grid = grid_shape(per_probe)
    info = new_info(
        NAME, layer=layer, rule=rule, probes=count, tile=list(patch_size), grid=list(grid),
        channels=channels.tolist(), activations=rounded(activations), inactive=(activations <= 0).tolist(),
        boxes=boxes.tolist(), patch_starts=patch_starts.tolist(), series={},
    )  # fmt: skip
    return info, [pack_atlas(probe, grid) for probe in pictures]


def render_top(
    layer: str,
    channels: list[int],
    values: torch.Tensor,
    indices: torch.Tensor,
    patches: torch.Tensor,
    projections: torch.Tensor,
    mean=None,
    std=None,
) -> tuple[dict, list]:
    """Info and two atlases (input patches, their projections): one row per channel, k columns.

    `mean`/`std` undo the model's input normalization so patches look like the data set's images.
    """
    count, k = values.shape
    patch_pictures = display_images(patches.flatten(0, 1).detach().float().cpu(), mean, std)
    projection_pictures = signed_pictures(projections.detach().float().cpu().flatten(0, 1))
    info = new_info(
        TOP, layer=layer, channels=list(channels), k=k, tile=list(patches.shape[-2:]), grid=[count, k],
        values=rounded(values), inactive=(values <= 0).tolist(), indices=indices.tolist(), series={},
    )  # fmt: skip
    return info, [pack_atlas(pictures, (count, k)) for pictures in (patch_pictures, projection_pictures)]
