"""Filter-maximizing images: for each chosen channel of a layer, the input that excites it most.

Gradient ascent from noise on a decorrelated Fourier image (image_param.py) under random transforms
(transforms.py), as Lucid/Lucent do, but organized for speed, which is what makes it usable inside a
training loop:
- every chosen channel is optimized at once, one image per channel in one batch (the loss is the sum of
  each image's own objective, so the images do not interact);
- the forward pass stops at the layer (a hook raises, as in capture.py), so later layers cost nothing;
- most steps run on a half-size periodic texture that is then tiled to full size (coarse-to-fine),
  with a higher learning rate decayed over the run, so far fewer full-size steps are needed;
- channels are split into chunks that fit a memory budget, estimated from a probe forward.
The ascent itself (optimizer, schedule, chunks) is shared with class images, in ascent.py.
The objective is a channel's mean over all positions ("mean", Lucid's channel objective: a texture)
or its centre unit ("centre", Lucid's neuron objective: one unit's preferred input, sized to its
receptive field, as the training callback's filter images are). On a small image most units see the
conv padding, and on the demo's conv3 at 24 px five channels that real images drive up at some unit
have a mean that no image found made positive; their centre units all reach positive values.
All randomness (starting noise, transforms) comes from one generator per channel seeded by `seed`,
so results are reproducible, independent of chunking and of the global RNG, which stays untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tb_cnnviz.methods.ascent import Canvas, optimize_in_chunks
from tb_cnnviz.methods.capture import layer_output
from tb_cnnviz.methods.indices import checked_indices
from tb_cnnviz.methods.layers import single_layer, unwrap_model
from tb_cnnviz.methods.memory import bytes_per_image, images_per_chunk
from tb_cnnviz.methods.model_state import evaluation_mode, model_dtype
from tb_cnnviz.methods.transforms import RobustnessTransforms, resolve_transforms

DEFAULT_MEMORY_BUDGET = 2 * 1024**3
_MIN_COARSE_SIZE = 24  # below this a coarse stage would be smaller than typical receptive fields

# Settings for per-epoch logging in a training callback: a fraction of the default's cost, images
# already recognizable. Use as maximize_filters(model, layer, **CHEAP_SETTINGS).
CHEAP_SETTINGS: dict[str, object] = {"steps": 32}


@dataclass(frozen=True)
class FilterImages:
    """Result of `maximize_filters`: one image per channel and the activation it reaches.

    images: (K, C_in, H, W) in [0, 1], display space (before the model's normalization);
    activations: (K,) each channel's objective (mean or centre unit) on its own final image, without transforms;
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
    objective: str = "mean",
    blur: float = 0.0,
) -> FilterImages:
    """Images that maximize each chosen channel's output of `layer` (`objective`: "mean" or "centre"), in one batch.

    `layer` is a name or module as in `resolve_layers` (exactly one layer); its own output is
    maximized, so for a Conv2d that is the pre-ReLU response and dead units still get a gradient.
    `channels=None` takes every channel, at most `max_channels` (None: no bound); `size`: int or (H, W).
    `in_channels` defaults to the first Conv2d's; `input_mean`/`input_std` are the model's input
    normalization, applied inside: images come back in [0, 1] display space. `param`: "fourier" or
    "pixel"; `decorrelate`: colour decorrelation (3 channels); `transforms` True/None/RobustnessTransforms.
    `optimizer` ("adam"/"normalized"), `lr`, `lr_decay`: see ascent.py; `blur`: ImageParam.blurred.
    For "mean", the first `coarse_fraction` of the steps run on an image `coarse_scale` times smaller, tiled
    up afterwards (None: never; skipped below 24 px). Chunks fit `memory_budget`; model and RNG are left as found.
    """
    name, module = single_layer(model, layer)
    network = unwrap_model(model)
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 1 or width < 1 or steps < 0:
        raise ValueError(f"size must be positive and steps >= 0, got size={size}, steps={steps}")
    canvas = Canvas.of(network, height, width, in_channels, input_mean, input_std, resolve_transforms(transforms))
    reduce = _reduction(objective)
    with evaluation_mode(network, freeze_parameters=True), torch.enable_grad():
        out_channels, per_image = _probe(network, module, name, canvas.input_shape, canvas.device)
        chosen = _choose_channels(channels, out_channels, max_channels, name)
        stages = _stages(steps, height, width, coarse_scale if objective == "mean" else None, coarse_fraction)
        chunks = optimize_in_chunks(
            chosen, images_per_chunk(per_image, canvas.input_shape, memory_budget), seed,
            lambda part: _channel_objective(network, module, torch.tensor(part, device=canvas.device), reduce),
            canvas, stages, param, decorrelate, optimizer, lr, lr_decay, blur,
        )  # fmt: skip
        with torch.no_grad():
            activations = [objective(canvas.normalize(images)).float() for objective, images in chunks]
    return FilterImages(
        images=torch.cat([images for _, images in chunks]) if chunks else torch.empty(0, canvas.colours, height, width),
        activations=torch.cat(activations) if activations else torch.empty(0),
        channels=chosen,
        layer=name,
    )


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


Reduction = Callable[[torch.Tensor], torch.Tensor]


def _channel_objective(
    network: nn.Module, module: nn.Module, index: torch.Tensor, reduce: Reduction
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Model inputs (K, ...) -> image i's objective (`reduce`) of channel index[i] in the layer's output."""

    def objective(inputs: torch.Tensor) -> torch.Tensor:
        output = layer_output(network, module, inputs)
        return reduce(output[torch.arange(len(index), device=output.device), index].float())

    return objective


def _channel_mean(maps: torch.Tensor) -> torch.Tensor:
    """(K, H, W, ...) -> (K,): each map's mean over all positions."""
    return maps.reshape(len(maps), -1).mean(dim=1)


def _centre_unit(maps: torch.Tensor) -> torch.Tensor:
    """(K, H, W) -> (K,): each map's unit at (H // 2, W // 2), as Lucid's neuron objective; 1-d maps: the mean."""
    if maps.dim() != 3:
        return _channel_mean(maps)
    return maps[:, maps.shape[1] // 2, maps.shape[2] // 2]


OBJECTIVES: dict[str, Reduction] = {"mean": _channel_mean, "centre": _centre_unit}


def _reduction(objective: str) -> Reduction:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")
    return OBJECTIVES[objective]


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


def _choose_channels(channels: Sequence[int] | None, count: int, max_channels: int | None, name: str) -> list[int]:
    if channels is None:
        limit = count if max_channels is None else min(count, max_channels)
        return list(range(limit))
    return checked_indices(channels, count, "channels", f"layer {name!r}")
