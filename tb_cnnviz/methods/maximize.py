"""Filter-maximizing images: for each chosen channel of a layer, the input that excites it most.

Gradient ascent from noise on a decorrelated Fourier image (image_param.py) under random transforms
(transforms.py), as Lucid/Lucent do, but organized for speed, which is what makes it usable inside a
training loop:
- every chosen channel is optimized at once, one image per channel in one batch (the loss is the sum of
  each image's own channel mean, so the images do not interact);
- the forward pass stops at the layer (a hook raises, as in capture.py), so later layers cost nothing;
- most steps run on a half-size periodic texture that is then tiled to full size (coarse-to-fine),
  with a higher learning rate decayed over the run, so far fewer full-size steps are needed;
- channels are split into chunks that fit a memory budget, estimated from a probe forward.
All randomness (starting noise, transforms) comes from one generator per channel seeded by `seed`,
so results are reproducible, independent of chunking and of the global RNG, which stays untouched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tb_cnnviz.methods.capture import layer_output
from tb_cnnviz.methods.image_param import ImageParam, make_param, tile_to
from tb_cnnviz.methods.indices import checked_indices
from tb_cnnviz.methods.input_space import normalizer
from tb_cnnviz.methods.layers import first_conv, single_layer, unwrap_model
from tb_cnnviz.methods.memory import saved_bytes
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype
from tb_cnnviz.methods.transforms import (
    RobustnessTransforms,
    apply_transforms,
    draw_transform_params,
    resolve_transforms,
)

DEFAULT_MEMORY_BUDGET = 2 * 1024**3
_MIN_COARSE_SIZE = 24  # below this a coarse stage would be smaller than typical receptive fields

# Settings for per-epoch logging in a training callback: a fraction of the default's cost, images
# already recognizable. Use as maximize_filters(model, layer, **CHEAP_SETTINGS).
CHEAP_SETTINGS: dict[str, object] = {"steps": 32}


@dataclass(frozen=True)
class FilterImages:
    """Result of `maximize_filters`: one image per channel and the activation it reaches.

    images: (K, C_in, H, W) in [0, 1], display space (before the model's normalization);
    activations: (K,) each channel's mean activation on its own final image, without transforms;
    channels: the channel indices, in the order of the images; layer: the layer's name.
    """

    images: torch.Tensor
    activations: torch.Tensor
    channels: list[int]
    layer: str


def maximize_filters(
    model: nn.Module,
    layer: str | nn.Module,
    channels: Sequence[int] | None = None,
    *,
    size: int | tuple[int, int] = 128,
    steps: int = 256,
    seed: int = 0,
    max_channels: int | None = 64,
    in_channels: int | None = None,
    input_mean: Sequence[float] | float | None = None,
    input_std: Sequence[float] | float | None = None,
    param: str = "fourier",
    decorrelate: bool = True,
    transforms: bool | RobustnessTransforms | None = True,
    optimizer: str = "adam",
    lr: float = 1.0,
    lr_decay: bool = True,
    coarse_scale: float | None = 0.5,
    coarse_fraction: float = 0.75,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> FilterImages:
    """Images that maximize each chosen channel's mean output of `layer`, all channels in one batch.

    `layer` is a name or module as in `resolve_layers` (exactly one layer); its own output is
    maximized, so for a Conv2d that is the pre-ReLU response and dead units still get a gradient.
    `channels=None` takes every channel, at most `max_channels` (None: no bound).
    `size` is the image size (an int or (H, W)); `in_channels` defaults to the first Conv2d's.
    `input_mean`/`input_std` are the model's input normalization, applied inside: images come back
    in [0, 1] display space. `param` is "fourier" (default) or "pixel"; `decorrelate` applies the
    natural-image colour decorrelation (3 channels only); `transforms` True/None/RobustnessTransforms.
    `optimizer` "adam" (per-coefficient, as Lucid; the fastest to strong activations on real networks)
    or "normalized" (gradient ascent scaled by each image's gradient RMS: keeps the decorrelation,
    reaches exact optima, smoother images); learning rate `lr` with a 10% warm-up then cosine decay
    to 5% when `lr_decay`. The first `coarse_fraction` of the steps run on an image `coarse_scale`
    times smaller, tiled up afterwards (None to disable; skipped below 24 px).
    Channels are split into chunks whose estimated memory stays under `memory_budget` bytes.
    The model is left as found (modes, requires_grad, gradients, hooks); the global RNG is untouched.
    """
    name, module = single_layer(model, layer)
    network = unwrap_model(model)
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 1 or width < 1 or steps < 0:
        raise ValueError(f"size must be positive and steps >= 0, got size={size}, steps={steps}")
    colours = in_channels if in_channels is not None else first_conv_in_channels(network)
    device, dtype = model_device(network), model_dtype(network)
    normalize = normalizer(input_mean, input_std, colours, device, dtype)
    settings = resolve_transforms(transforms)
    pad = round(settings.pixels(settings.pad, max(height, width))) if settings else 0

    with evaluation_mode(network, freeze_parameters=True), torch.enable_grad():
        shape = (colours, height + 2 * pad, width + 2 * pad)
        out_channels, per_image = _probe(network, module, name, shape, device)
        chosen = _choose_channels(channels, out_channels, max_channels, name)
        chunk = images_per_chunk(per_image, shape, memory_budget)
        stages = _stages(steps, height, width, coarse_scale, coarse_fraction)
        images, activations = [], []
        for start in range(0, len(chosen), chunk):
            part = chosen[start : start + chunk]
            generators = [seeded_generator(seed, channel) for channel in part]
            params = [make_param(param, colours, h, w, decorrelate) for h, w, _ in stages]
            objective = _channel_objective(network, module, torch.tensor(part, device=device))
            part_images = optimize_images(
                objective, generators, params, [n for _, _, n in stages],
                normalize, settings, max(height, width), optimizer, lr, lr_decay, device,
            )  # fmt: skip
            with torch.no_grad():
                activations.append(objective(normalize(part_images)).float())
            images.append(part_images)
    return FilterImages(
        images=torch.cat(images) if images else torch.empty(0, colours, height, width),
        activations=torch.cat(activations) if activations else torch.empty(0),
        channels=chosen,
        layer=name,
    )


def optimize_images(
    objective: Callable[[torch.Tensor], torch.Tensor],
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
) -> torch.Tensor:
    """Gradient ascent on K images at once, one per generator; returns the final images in display space.

    `objective` maps the K (transformed, normalized) model inputs to K values, each depending on its own
    image only; their sum is maximized. Shared by filter images (a channel's mean) and class images.
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
    pixels deep into the sigmoid's flat tails where no gradient brings them back. Warm-up avoids that;
    large middle steps find the pattern, small late ones sharpen it.
    """
    if not decay or total <= 1:
        return lr
    warmup = max(1, total // 10)
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - 1 - warmup)
    return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def _stages(
    steps: int, height: int, width: int, coarse_scale: float | None, coarse_fraction: float
) -> list[tuple[int, int, int]]:
    """(height, width, steps) per stage: an optional coarse stage, then full size."""
    if coarse_scale is not None and not 0 < coarse_scale <= 1:
        raise ValueError(f"coarse_scale must be in (0, 1] or None, got {coarse_scale}")
    if not 0 <= coarse_fraction <= 1:
        raise ValueError(f"coarse_fraction must be in [0, 1], got {coarse_fraction}")
    if coarse_scale is None or coarse_scale == 1:
        return [(height, width, steps)]
    coarse_h, coarse_w = round(height * coarse_scale), round(width * coarse_scale)
    coarse_steps = round(steps * coarse_fraction)
    if min(coarse_h, coarse_w) < _MIN_COARSE_SIZE or coarse_steps == 0:
        return [(height, width, steps)]
    return [(coarse_h, coarse_w, coarse_steps), (height, width, steps - coarse_steps)]


def _channel_objective(
    network: nn.Module, module: nn.Module, index: torch.Tensor
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Model inputs (K, ...) -> image i's mean of channel index[i] in the layer's output."""

    def objective(inputs: torch.Tensor) -> torch.Tensor:
        return _own_channel_means(layer_output(network, module, inputs), index)

    return objective


def _own_channel_means(output: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Image i's mean of channel index[i]: (K, C, ...) -> (K,)."""
    rows = torch.arange(len(index), device=output.device)
    return output[rows, index].reshape(len(index), -1).float().mean(dim=1)


def _probe(
    network: nn.Module, module: nn.Module, name: str, shape: tuple[int, int, int], device: torch.device
) -> tuple[int, int]:
    """The layer's channel count and the bytes one more image costs in the truncated forward and backward."""
    per_image, output = bytes_per_image(
        lambda inputs: layer_output(network, module, inputs), shape, device, model_dtype(network)
    )
    if not isinstance(output, torch.Tensor) or output.dim() < 2:
        raise ValueError(
            f"layer {name!r} ({type(module).__name__}) returns {type(output).__name__}"
            f"{'' if not isinstance(output, torch.Tensor) else f' of shape {tuple(output.shape)}'}"
            "; choose a layer whose output is (N, C, ...) such as a Conv2d"
        )
    return output.shape[1], per_image


def bytes_per_image(
    forward: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> tuple[int, torch.Tensor]:
    """The bytes one more input of `shape` costs in `forward` and its backward (tensors autograd saves,
    output, grads), and the output for a batch of one.

    Runs `forward` for batches of 1 and 2 and counts the storage autograd keeps for the backward pass;
    the difference is what each image adds (the weights, saved once, cancel out).
    """

    def measure(batch: int):
        inputs = torch.full((batch, *shape), 0.5, device=device, dtype=dtype, requires_grad=True)
        total, output = saved_bytes(lambda: forward(inputs))
        return total + (output.nbytes if isinstance(output, torch.Tensor) else 0), output

    one, output = measure(1)
    if not isinstance(output, torch.Tensor):
        return 0, output
    two, _ = measure(2)
    # Twice the saved tensors: the backward pass holds gradients of about the same size.
    return 2 * max(two - one, output[:1].nbytes), output


def images_per_chunk(per_image: int, shape: tuple[int, int, int], memory_budget: int) -> int:
    """How many images of `shape` one optimization batch holds under `memory_budget` bytes.

    `per_image` is the forward and backward cost (bytes_per_image); each image also keeps about
    8 float copies of itself (image, parameters, gradients, Adam state).
    """
    colours, height, width = shape
    return max(1, int(memory_budget // max(per_image + 8 * colours * height * width * 4, 1)))


def _choose_channels(channels: Sequence[int] | None, count: int, max_channels: int | None, name: str) -> list[int]:
    if channels is None:
        limit = count if max_channels is None else min(count, max_channels)
        return list(range(limit))
    return checked_indices(channels, count, "channels", f"layer {name!r}")


def seeded_generator(seed: int, item: int) -> torch.Generator:
    """A CPU generator for one channel (or class): its image depends on (seed, item) only, not on chunking."""
    return torch.Generator().manual_seed((int(seed) * (1 << 24) + int(item)) % (1 << 63))


def first_conv_in_channels(network: nn.Module) -> int:
    conv = first_conv(network)
    if conv is not None:
        return conv.in_channels
    raise ValueError(f"{type(network).__name__} has no nn.Conv2d to infer the input channels; pass in_channels=")
