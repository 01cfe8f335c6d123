"""Class model visualization (Simonyan et al. 2014): what the network thinks a class looks like.

Gradient ascent on the input for a class objective minus an L2 penalty, f_c(I) - l2 * ||I||^2, with
the filter images' parameterization, robustness transforms and optimizer (ascent.optimize_in_chunks),
all classes in one batch: one image per class, each image's objective its own class only.
The objective f_c is the class's log-softmax by default: the raw score S_c of the paper ("score")
can be raised by raising every class's score, and on a model that separates classes weakly (early in
training) another class then wins the image; log-softmax only rises when the class gains on the others.
With it and cs231n's l2 = 1e-3, 49 of 50 class images of ten random-weight 5-class CNNs (64 steps) win
their class; the raw score at the former l2 = 1e-2 lost 10 of 20 on four of them (the penalty holds
the images near the data mean, where one class wins most). On the trained demo model the images
keep the former contrast. Its gradient, unlike the raw score's, carries the forward pass's float noise
(which differs with the batch size), and a max-pool switch can turn that into a visible difference:
one class alone and in a batch differ by up to 0.04 on a pixel of the demo model at 16 steps, 5e-7 at 64.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tb_cnnviz.methods.ascent import Canvas, optimize_in_chunks
from tb_cnnviz.methods.class_scores import class_logits, class_probabilities
from tb_cnnviz.methods.indices import checked_indices
from tb_cnnviz.methods.input_space import Normalization
from tb_cnnviz.methods.layers import unwrap_model
from tb_cnnviz.methods.maximize import DEFAULT_MEMORY_BUDGET
from tb_cnnviz.methods.memory import bytes_per_image, images_per_chunk
from tb_cnnviz.methods.model_state import evaluation_mode, model_dtype
from tb_cnnviz.methods.transforms import RobustnessTransforms, resolve_transforms

# No padding, so the model gets inputs of exactly `size`: classifiers with a flatten + linear head
# (the demo's FashionCNN) accept no other size. Jitter, scale and rotate still move the image.
CLASS_TRANSFORMS = RobustnessTransforms(pad=0.0)
# What an image maximizes for class c, from the (K, classes) logits: "log_softmax" (the default) the
# class's log-probability, "margin" its score minus the mean of the other scores, "score" the raw score
# S_c (Simonyan et al.'s and cs231n's definition).
OBJECTIVES = ("log_softmax", "margin", "score")


@dataclass(frozen=True)
class ClassImages:
    """Result of `class_visualization`: one image per class and what the model says about it.

    images: (K, C_in, H, W) in [0, 1], display space (before the model's normalization);
    scores: (K,) each class's score (logit) on its own final image, without transforms;
    probabilities: (K,) the softmax probability of the class on that image;
    classes: the class indices, in the order of the images;
    predicted: (K,) the class the model predicts for each image (its own class when the image won);
    objective: what was maximized, one of OBJECTIVES.
    """

    images: torch.Tensor
    scores: torch.Tensor
    probabilities: torch.Tensor
    classes: list[int]
    predicted: torch.Tensor
    objective: str


def class_visualization(
    model: nn.Module,
    classes: Sequence[int] | None,
    *,
    size: int | tuple[int, int],
    steps: int,
    seed: int = 0,
    l2: float = 1e-3,
    objective: str = "log_softmax",
    in_channels: int | None = None,
    input_mean: Normalization = None,
    input_std: Normalization = None,
    param: str = "fourier",
    decorrelate: bool = True,
    transforms: bool | RobustnessTransforms | None = True,
    optimizer: str = "adam",
    lr: float = 0.2,
    lr_decay: bool = True,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> ClassImages:
    """Images that maximize each class's `objective` minus `l2` times the squared L2 norm of the model input.

    `objective` is one of OBJECTIVES (the module docstring says why log-softmax). `classes` are indices
    into the model's (N, classes) output, None for all. `size` is what the model takes (an int or
    (H, W)); `in_channels` defaults to the first Conv2d's. The penalty is on the normalized input (what
    the model sees: distance from the data mean when `input_mean`/`input_std` are the model's
    normalization), summed over pixels as in the paper. `transforms=True` jitters, scales and rotates
    without padding (CLASS_TRANSFORMS); `param`, `decorrelate`, `optimizer`, `lr`, `lr_decay` as in
    `maximize_filters` (no coarse stage: a class score is not a spatial mean).
    Each class's image depends on (seed, class) only: batching and chunking to `memory_budget` bytes
    change it by float noise only (see the module docstring). Model left as found (modes,
    requires_grad, gradients, hooks); global RNG untouched.
    """
    network = unwrap_model(model)
    height, width = _checked_size(size, steps, l2, objective)
    settings = CLASS_TRANSFORMS if transforms is True else resolve_transforms(transforms)
    canvas = Canvas.of(network, height, width, in_channels, input_mean, input_std, settings)
    device, dtype, shape = canvas.device, model_dtype(network), canvas.input_shape

    with evaluation_mode(network, freeze_parameters=True), torch.enable_grad():
        per_image, logits = bytes_per_image(lambda inputs: class_logits(network, inputs), shape, device, dtype)
        chosen = _choose_classes(classes, logits.shape[1])
        chunks = optimize_in_chunks(
            chosen, images_per_chunk(per_image, shape, memory_budget), seed,
            lambda part: _class_objective(network, torch.tensor(part, device=device), objective, l2),
            canvas, [(height, width, steps)], param, decorrelate, optimizer, lr, lr_decay,
        )  # fmt: skip
        images = [part_images for _, part_images in chunks]
        images = torch.cat(images) if images else torch.empty(0, canvas.colours, height, width, device=device)
        with torch.no_grad():
            logits = class_logits(network, canvas.normalize(images))
    index = torch.tensor(chosen, dtype=torch.long, device=device)
    return ClassImages(
        images=images,
        scores=logits.gather(1, index[:, None])[:, 0].float(),
        probabilities=class_probabilities(logits, index),
        classes=chosen,
        predicted=logits.argmax(dim=1),
        objective=objective,
    )


def class_objective(logits: torch.Tensor, classes: torch.Tensor, objective: str) -> torch.Tensor:
    """(K,) image i's `objective` (one of OBJECTIVES) for class classes[i], from its (K, classes) logits."""
    logits = logits.float()
    own = logits.gather(1, classes[:, None])[:, 0]
    if objective == "log_softmax":
        return own - logits.logsumexp(dim=1)
    if objective == "margin":
        others = (logits.sum(dim=1) - own) / max(logits.shape[1] - 1, 1)
        return own - others
    return own


def _class_objective(
    network: nn.Module, classes: torch.Tensor, objective: str, l2: float
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Model inputs (K, ...) -> image i's objective for class classes[i] minus l2 * ||input i||^2."""

    def maximized(inputs: torch.Tensor) -> torch.Tensor:
        value = class_objective(class_logits(network, inputs), classes, objective)
        return value - l2 * inputs.float().pow(2).flatten(1).sum(dim=1)

    return maximized


def _checked_size(size: int | tuple[int, int], steps: int, l2: float, objective: str) -> tuple[int, int]:
    """(height, width) of `size`; a clear error for a bad size, step count, penalty or objective."""
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 1 or width < 1 or steps < 0 or l2 < 0:
        raise ValueError(f"size must be positive, steps and l2 >= 0, got size={size}, steps={steps}, l2={l2}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r} is unknown; choose one of {list(OBJECTIVES)}")
    return height, width


def _choose_classes(classes: Sequence[int] | None, count: int) -> list[int]:
    if classes is None:
        return list(range(count))
    return checked_indices(classes, count, "classes", "the model")
