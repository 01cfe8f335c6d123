"""Saliency (Simonyan et al. 2014): which pixels of each probe move its predicted class's score most.

Also home of the explanation picture both saliency and Grad-CAM log: each probe with its map over it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, TypedDict

import torch

from tb_cnnviz.methods.overlays import normalize_heatmap, overlay
from tb_cnnviz.methods.saliency import saliency
from tb_cnnviz.writer.atlas import single_atlas
from tb_cnnviz.writer.kinds.base import ModelKind
from tb_cnnviz.writer.pictures import display_scale, rgb_pixels, upscaled
from tb_cnnviz.writer.record import Record, new_info
from tb_cnnviz.writer.statistics import rounded

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import StepContext

NAME = "saliency"


class ExplanationInfo(TypedDict, total=False):
    """Keys of a saliency or Grad-CAM info beside contract.Info's (one atlas, one tile per probe)."""

    class_names: list[str] | None
    labels: list[str] | None  # the probes' names
    target: str  # what each map explains: "predicted"
    predicted: list[int]  # each probe's predicted class
    probabilities: list[float | None]  # its softmax probability


@dataclass
class Saliency(ModelKind):
    """Each probe's gradient saliency map for its predicted class, over the probe in colour."""

    name: ClassVar[str] = NAME

    def records(self, context: StepContext) -> Iterator[Record]:
        probabilities = context.probabilities
        heatmaps = normalize_heatmap(saliency(context.model, context.probes.images, probabilities.argmax(dim=1)))
        yield explanation_record(NAME, context, heatmaps, probabilities)


def explanation_record(kind: str, context: StepContext, heatmaps: torch.Tensor, probabilities: torch.Tensor, **extra):
    """The record of a map per probe (N, h, w) in [0, 1] for its predicted class (saliency, Grad-CAM)."""
    confidence, predicted = probabilities.max(dim=1)
    probes = context.probes
    info, pictures = render(
        kind, probes.pictures, heatmaps, predicted, confidence, class_names=probes.class_names,
        labels=probes.labels, **extra,
    )  # fmt: skip
    return Record(info, pictures)


def render(
    kind: str,
    pictures: torch.Tensor,
    heatmaps: torch.Tensor,
    predicted: torch.Tensor,
    probabilities: torch.Tensor,
    *,
    class_names: list[str] | None,
    labels: list[str] | None,
    **extra,
) -> tuple[dict, list]:
    """Info and one RGB atlas of each probe with its heatmap (N, h, w) in [0, 1] over it in colour.

    `pictures` are the probes in display space (Probes.pictures); `predicted` and `probabilities` the
    class each map explains and its softmax probability. `extra` (Grad-CAM's layer) goes into the info.
    A map at the images' own resolution (saliency) is drawn pixel for pixel at their size, the browser
    enlarges it crisply; a coarser one (Grad-CAM) is resized smoothly onto enlarged images, so it reads
    as the region it is.
    """
    scale = 1 if heatmaps.shape[-2:] == pictures.shape[-2:] else display_scale(*pictures.shape[-2:])
    tiles = rgb_pixels(overlay(upscaled(pictures.float().cpu(), scale), heatmaps.detach().float().cpu()))
    layout, atlas = single_atlas(tiles)
    confidence = rounded(probabilities)
    info = new_info(
        kind, probes=len(tiles), channels=list(range(len(tiles))), **layout, class_names=class_names,
        labels=labels, target="predicted", predicted=predicted.tolist(), probabilities=confidence, **extra,
        series={"probability": list(confidence)},
    )  # fmt: skip
    return info, [atlas]
