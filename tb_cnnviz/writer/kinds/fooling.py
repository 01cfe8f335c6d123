"""Fooling images (Szegedy et al. 2014): how little change makes the model call each probe another class."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypedDict

import numpy as np
import torch
from torch import nn

from tb_cnnviz.methods.fooling import fooling_images
from tb_cnnviz.writer.atlas import single_atlas
from tb_cnnviz.writer.kinds.base import ModelKind
from tb_cnnviz.writer.kinds.options import check_count, check_positive, model_classes
from tb_cnnviz.writer.pictures import display_scale, rgb_pixels, upscaled
from tb_cnnviz.writer.record import Record, new_info
from tb_cnnviz.writer.statistics import plain, rounded

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import StepContext
    from tb_cnnviz.writer.probes import Probes

NAME = "fooling"
PANES = ["original", "changed", "difference"]
PANE_GAP = 4  # white pixel columns between the panes of a tile


class FoolingInfo(TypedDict, total=False):
    """The kind's own keys beside contract.Info's (one atlas, a tile per probe: original | changed | difference)."""

    panes: list[str]
    pane_width: int
    pane_gap: int
    class_names: list[str] | None
    labels: list[str] | None
    magnification: list[float | None]  # how much each difference pane is multiplied
    original_classes: list[int]
    original_probabilities: list[float | None]
    targets: list[int]
    target_probabilities: list[float | None]
    succeeded: list[bool]
    steps: list[int]
    max_steps: int
    max_change: list[float | None]


@dataclass
class Fooling(ModelKind):
    """Each probe pushed by small gradient steps towards a wrong class until the model predicts it.

    `targets`: one class per probe; None for each probe's second most likely class at the first log.
    Fixed then, so steps compare. `max_steps` and `step_size` as in fooling_images.
    """

    name: ClassVar[str] = NAME
    targets: Sequence[int] | None = None
    max_steps: int = 100
    step_size: float = 0.01
    _targets: list[int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_count("Fooling", "max_steps", self.max_steps, 0)
        check_positive("Fooling", "step_size", self.step_size)

    def attach(self, model: nn.Module, probes: Probes) -> None:
        if self.targets is not None and len(self.targets) != len(probes.images):
            raise ValueError(
                f"Fooling targets has {len(self.targets)} classes for {len(probes.images)} probes; give one per probe"
            )

    def fix(self, context: StepContext) -> None:
        probabilities = context.probabilities
        second_likeliest = probabilities.topk(2, dim=1).indices[:, 1].tolist()
        self._targets = model_classes(self.targets, probabilities.shape[1], "Fooling targets", second_likeliest)

    def records(self, context: StepContext) -> Iterator[Record]:
        probes = context.probes
        result = fooling_images(
            context.model, probes.images, self._targets, max_steps=self.max_steps, step_size=self.step_size,
            input_mean=probes.input_mean, input_std=probes.input_std,
        )  # fmt: skip
        original_probabilities, original_classes = context.probabilities.max(dim=1)
        yield Record(*render(
            result.originals, result.images, class_names=probes.class_names, labels=probes.labels,
            original_classes=original_classes, original_probabilities=original_probabilities,
            targets=result.targets, target_probabilities=result.probabilities, succeeded=result.succeeded,
            steps=result.steps, max_steps=self.max_steps, max_change=result.max_change,
        ))  # fmt: skip


def render(
    originals: torch.Tensor,
    changed: torch.Tensor,
    *,
    class_names: list[str] | None,
    labels: list[str] | None,
    **numbers,
) -> tuple[dict, list]:
    """Info and one RGB atlas whose tile per probe is original | changed | magnified difference.

    `originals` and `changed` are display-space images in [0, 1]. The difference pane shows
    changed - original around mid-grey, multiplied so its largest |change| reaches black or white;
    the factor goes into the info as "magnification". `numbers` (targets, steps, probabilities...)
    are per-probe tensors or plain values copied into the info.
    """
    originals, changed = originals.detach().float().cpu(), changed.detach().float().cpu()
    difference = changed - originals
    largest = difference.abs().amax(dim=(1, 2, 3))
    magnification = torch.where(largest > 0, 0.5 / largest.clamp_min(1e-12), torch.ones_like(largest))
    panes = [originals, changed, 0.5 + difference * magnification.view(-1, 1, 1, 1)]
    scale = display_scale(*originals.shape[-2:])
    pictures = [rgb_pixels(upscaled(pane, scale)) for pane in panes]
    count, height, width = pictures[0].shape[:3]
    gap = np.full((count, height, PANE_GAP, 3), 255, dtype=np.uint8)
    layout, atlas = single_atlas(np.concatenate([pictures[0], gap, pictures[1], gap, pictures[2]], axis=2))
    values = {name: plain(value) for name, value in numbers.items()}
    info = new_info(
        NAME, probes=count, channels=list(range(count)), **layout, panes=PANES, pane_width=width, pane_gap=PANE_GAP,
        class_names=class_names, labels=labels, magnification=rounded(magnification), **values,
        series={"steps": list(values["steps"]), "target_probability": list(values["target_probabilities"])},
    )  # fmt: skip
    return info, [atlas]
