"""Gradient ascent on a batch of images, one objective per image: what filter and class images share.

Each image starts from noise drawn by its own generator, seeded by (seed, item), and its objective
depends on it alone, so an image is the same whatever else shares its batch: chunking to fit memory
does not change it. The optimizer is "adam" (per-coefficient, as Lucid; the fastest to strong
activations on real networks) or "normalized" (gradient ascent scaled by each image's gradient RMS:
keeps the decorrelation, reaches exact optima, smoother images; fooling images step with it too).
The learning rate `lr` has a 10% warm-up then cosine decay to 5% when `lr_decay`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from tb_cnnviz.methods.image_param import ImageParam, make_param, tile_to
from tb_cnnviz.methods.input_space import Normalization, normalizer
from tb_cnnviz.methods.layers import first_conv
from tb_cnnviz.methods.model_state import model_device, model_dtype
from tb_cnnviz.methods.transforms import RobustnessTransforms, apply_transforms, draw_transform_params

Objective = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Canvas:
    """The images being optimized and what the model takes of them: size and channels, the model's
    input normalization, and the robustness transforms (whose padding makes the model's input larger)."""

    colours: int
    height: int
    width: int
    normalize: Callable[[torch.Tensor], torch.Tensor]
    transforms: RobustnessTransforms | None
    device: torch.device

    @classmethod
    def of(
        cls,
        network: nn.Module,
        height: int,
        width: int,
        in_channels: int | None,
        input_mean: Normalization,
        input_std: Normalization,
        transforms: RobustnessTransforms | None,
    ) -> Canvas:
        """The canvas for `network`'s input; `in_channels` defaults to its first Conv2d's."""
        colours = in_channels if in_channels is not None else first_conv_in_channels(network)
        device = model_device(network)
        normalize = normalizer(input_mean, input_std, colours, device, model_dtype(network))
        return cls(colours, height, width, normalize, transforms, device)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one model input during the ascent: the image with the transforms' padding around it."""
        settings = self.transforms
        pad = round(settings.pixels(settings.pad, max(self.height, self.width))) if settings else 0
        return (self.colours, self.height + 2 * pad, self.width + 2 * pad)


def optimize_in_chunks(
    items: list[int],
    chunk: int,
    seed: int,
    objective_for: Callable[[list[int]], Objective],
    canvas: Canvas,
    stages: list[tuple[int, int, int]],
    param: str,
    decorrelate: bool,
    optimizer: str,
    lr: float,
    lr_decay: bool,
    blur: float = 0.0,
) -> list[tuple[Objective, torch.Tensor]]:
    """`optimize_images` for `chunk` items at a time, to bound memory: each chunk's objective and images.

    `objective_for(part)` is the objective of the items in `part`, one image each, drawn from
    `seeded_generator(seed, item)`; `stages` are the (height, width, steps) of the `param` image in turn.
    """
    chunks = []
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        generators = [seeded_generator(seed, item) for item in part]
        params = [make_param(param, canvas.colours, h, w, decorrelate) for h, w, _ in stages]
        objective = objective_for(part)
        images = optimize_images(
            objective, generators, params, [n for _, _, n in stages], canvas.normalize, canvas.transforms,
            max(canvas.height, canvas.width), optimizer, lr, lr_decay, canvas.device, blur,
        )  # fmt: skip
        chunks.append((objective, images))
    return chunks


def optimize_images(
    objective: Objective,
    generators: list[torch.Generator],
    params: list[ImageParam],
    stage_steps: list[int],
    normalize: Callable[[torch.Tensor], torch.Tensor],
    settings: RobustnessTransforms | None,
    reference_size: int,
    optimizer_kind: str,
    lr: float,
    lr_decay: bool,
    device: torch.device,
    blur: float = 0.0,
) -> torch.Tensor:
    """Gradient ascent on K images at once, one per generator; returns the final images in display space.

    `objective` maps the K (transformed, normalized) model inputs to K values, each depending on its own
    image only; their sum is maximized. Shared by filter images (a channel's mean or centre unit) and class images.
    `blur` > 0 damps the image's high frequencies after every step (ImageParam.blurred).
    """
    total = sum(stage_steps)
    values = params[0].init(generators, device)  # drawn first, so noise never depends on the transforms
    uniforms = torch.stack([draw_transform_params(generator, total) for generator in generators])
    step = 0
    for stage, (param, count) in enumerate(zip(params, stage_steps, strict=True)):
        if stage > 0:
            with torch.no_grad():
                values = param.from_linear(tile_to(params[stage - 1].to_linear(values), param.height, param.width))
        values = values.detach().requires_grad_(True)
        optimizer = _make_optimizer(optimizer_kind, values, lr)
        for _ in range(count):
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(lr, step, total, lr_decay)
            images = param.to_image(values)
            if settings is not None:
                images = apply_transforms(images, uniforms[:, step], settings, reference_size)
            optimizer.zero_grad(set_to_none=True)
            (-objective(normalize(images)).sum()).backward()
            optimizer.step()
            if blur:
                with torch.no_grad():
                    values.copy_(param.blurred(values, blur))
            step += 1
    with torch.no_grad():
        return params[-1].to_image(values.detach()).float()


class NormalizedAscent:
    """Momentum gradient steps divided by each image's gradient RMS (Adam with one second moment per image).

    Unlike Adam it keeps the relative size of the coefficients' gradients, i.e. the Fourier
    parameterization's decorrelation; it converges cleanly to exact optima (see the tests) but
    moves the high frequencies that real conv units like more slowly than Adam. With betas (0, 0)
    every step moves each image by exactly `lr` per value (RMS), which is what fooling images take.
    Like torch optimizers it minimizes: the values move against their gradient.
    """

    def __init__(self, values: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.values, self.betas, self.steps = values, betas, 0
        self.param_groups = [{"lr": lr}]
        self.momentum = torch.zeros_like(values)
        self.square = torch.zeros(values.shape[0], device=values.device, dtype=values.dtype)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.values.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grad = self.values.grad
        beta1, beta2 = self.betas
        self.steps += 1
        self.momentum.mul_(beta1).add_(grad, alpha=1 - beta1)
        self.square.mul_(beta2).add_(grad.pow(2).flatten(1).mean(1), alpha=1 - beta2)
        momentum = self.momentum / (1 - beta1**self.steps)
        rms = (self.square / (1 - beta2**self.steps)).sqrt().clamp(min=1e-20)
        self.values.sub_(self.param_groups[0]["lr"] * momentum / rms.view((-1,) + (1,) * (grad.dim() - 1)))


def _make_optimizer(kind: str, values: torch.Tensor, lr: float):
    if kind == "adam":
        return torch.optim.Adam([values], lr=lr)
    if kind == "normalized":
        return NormalizedAscent(values, lr)
    raise ValueError(f"unknown optimizer {kind!r}; choose 'adam' or 'normalized'")


def _learning_rate(lr: float, step: int, total: int, decay: bool) -> float:
    """Linear warm-up over the first 10% of steps, then cosine decay to 5% of `lr`.

    Adam's first steps are sign steps on every Fourier coefficient at once; at a high rate they throw
    pixels far past 0 or 1, from where they take many steps to return. Warm-up avoids that;
    large middle steps find the pattern, small late ones sharpen it.
    """
    if not decay or total <= 1:
        return lr
    warmup = max(1, total // 10)
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - 1 - warmup)
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def seeded_generator(seed: int, item: int) -> torch.Generator:
    """A CPU generator for one channel (or class): its image depends on (seed, item) only, not on chunking."""
    return torch.Generator().manual_seed((int(seed) * (1 << 24) + int(item)) % (1 << 63))


def first_conv_in_channels(network: nn.Module) -> int:
    conv = first_conv(network)
    if conv is not None:
        return conv.in_channels
    raise ValueError(f"{type(network).__name__} has no nn.Conv2d to infer the input channels; pass in_channels=")
