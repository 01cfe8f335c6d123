"""Class images (Simonyan et al. 2014): what the network thinks each class looks like, step after step."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypedDict

import torch

from tb_cnnviz.methods.class_visualization import OBJECTIVES, ClassImages, class_visualization
from tb_cnnviz.methods.maximize import DEFAULT_MEMORY_BUDGET
from tb_cnnviz.methods.transforms import RobustnessTransforms
from tb_cnnviz.writer.atlas import single_atlas
from tb_cnnviz.writer.kinds.base import ModelKind
from tb_cnnviz.writer.kinds.options import (
    check_choice,
    check_image_optimization,
    model_classes,
    optimization_settings,
)
from tb_cnnviz.writer.pictures import unit_range_pictures
from tb_cnnviz.writer.record import Record, new_info
from tb_cnnviz.writer.statistics import rounded

if TYPE_CHECKING:
    from tb_cnnviz.writer.context import StepContext

NAME = "class_visualization"
# With more classes than this (ImageNet), class images are made for the probes' predicted classes only.
MAX_CLASS_IMAGES = 16


class ClassVisualizationInfo(TypedDict, total=False):
    """The kind's own keys beside contract.Info's (one atlas; `channels` are the classes, one tile each)."""

    class_names: list[str] | None
    scores: list[float | None]  # each class's score (logit) on its own image
    probabilities: list[float | None]  # its softmax probability there
    predicted: list[int]  # the class the model predicts for each image: the tab flags one not its own
    objective: str  # what was maximized (class_visualization.OBJECTIVES)
    steps: int
    l2: float


@dataclass
class ClassVisualization(ModelKind):
    """One image per class from seeded noise (class_visualization), the same classes and seed at every step.

    `classes`: None for every class, or the probes' predicted classes when the model has more than 16;
    fixed at the first log. `size`: None for the probes' size. The rest as in class_visualization;
    `steps` defaults to a cheap 64, which already shows a class's strokes on small models; `objective`
    to "log_softmax", so that an image is of its class even early in training ("score" is the paper's).
    """

    name: ClassVar[str] = NAME
    classes: Sequence[int] | None = None
    steps: int = 64
    size: int | tuple[int, int] | None = None
    l2: float = 1e-3
    objective: str = "log_softmax"
    param: str = "fourier"
    decorrelate: bool = True
    transforms: bool | RobustnessTransforms | None = True
    optimizer: str = "adam"
    lr: float = 0.2
    lr_decay: bool = True
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    _classes: list[int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_image_optimization("ClassVisualization", self)
        if isinstance(self.l2, bool) or not isinstance(self.l2, (int, float)) or self.l2 < 0:
            raise ValueError(f"ClassVisualization l2 must be a number >= 0, got {self.l2!r}")
        check_choice("ClassVisualization", "objective", self.objective, OBJECTIVES)

    def fix(self, context: StepContext) -> None:
        probabilities = context.probabilities
        default = default_classes(probabilities)
        self._classes = model_classes(self.classes, probabilities.shape[1], "ClassVisualization classes", default)

    def records(self, context: StepContext) -> Iterator[Record]:
        probes = context.probes
        result = class_visualization(
            context.model, self._classes, size=self.size or probes.size, l2=self.l2, objective=self.objective,
            seed=context.seed, in_channels=probes.images.shape[1], input_mean=probes.input_mean,
            input_std=probes.input_std, **optimization_settings(self),
        )  # fmt: skip
        yield Record(*render(result, class_names=probes.class_names, steps=self.steps, l2=self.l2))


def default_classes(probabilities: torch.Tensor) -> list[int]:
    """Every class, or with more than MAX_CLASS_IMAGES classes the probes' predicted ones, in first-seen order."""
    if probabilities.shape[1] <= MAX_CLASS_IMAGES:
        return list(range(probabilities.shape[1]))
    return list(dict.fromkeys(probabilities.argmax(dim=1).tolist()))


def render(result: ClassImages, *, class_names: list[str] | None, steps: int, l2: float) -> tuple[dict, list]:
    """Info and one atlas of the (K, C, H, W) class images, in [0, 1], one tile per class."""
    layout, atlas = single_atlas(unit_range_pictures(result.images))
    score, probability = rounded(result.scores), rounded(result.probabilities)
    info = new_info(
        NAME, channels=list(result.classes), **layout, class_names=class_names, scores=score,
        probabilities=probability, predicted=[int(c) for c in result.predicted.tolist()], objective=result.objective,
        steps=steps, l2=l2, series={"probability": list(probability), "score": list(score)},
    )  # fmt: skip
    return info, [atlas]
