"""Deconvnet projections (Zeiler & Fergus 2014) and guided backprop, batched over images and channels.

For image n and channel c: keep the channel's strongest activation, zero the rest of the layer, and
run the network in reverse to the input (unpool with the forward's switches, rectify, transposed
filters). That is the backward pass of autograd started from that activation's value, with every
ReLU's backward replaced by a rule (relu_rules.py): max-pool and conv backward already are unpooling
with switches and transposed filtering.

A unit whose strongest value is not positive (a pre-ReLU channel that never fires on the image) starts
from its magnitude instead (1 when it is 0): a negative start would let relu(signal) pass other paths and
draw another picture, not the unit's own one flipped. So every projection shows what drives its unit up,
and `inactive` says which units were not firing.

Organized for speed: the forward stops at the layer; every (image, channel) pair is one sample of one
batch, so a whole layer takes one forward and one backward (split into chunks under a memory budget)
instead of a full-model pass per projection; and each sample is only the crop of its image under its
unit's receptive field (receptive_field.py), which computes exactly the same values there, while the
projection is zero everywhere else.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tb_cnnviz.methods.capture import layer_output
from tb_cnnviz.methods.indices import checked_indices
from tb_cnnviz.methods.layers import single_layer, unwrap_model
from tb_cnnviz.methods.memory import saved_bytes
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype
from tb_cnnviz.methods.receptive_field import ReceptiveField, field_of, take_windows
from tb_cnnviz.methods.relu_rules import RULES, backward_rule

DEFAULT_MEMORY_BUDGET = 1024**3


@dataclass(frozen=True)
class Projections:
    """Result of `deconvnet`, for N images and K channels each.

    projections: (N, K, C_in, H, W) the raw projected signal in input space, before display normalization;
    activations: (N, K) the strongest activation of the channel in the image (where the projection starts);
    positions: (N, K, 2) its (row, col) in the layer's feature map;
    boxes: (N, K, 4) (top, left, bottom, right), exclusive ends: the unit's receptive field in the image;
    channels: the channel indices, a list shared by all images, or (N, K) when given per image;
    layer: the layer's name; rule: "deconvnet" or "guided"; receptive_field: the layer's field.
    Units whose activation is not positive are projected from its magnitude (see `inactive`).
    """

    projections: torch.Tensor
    activations: torch.Tensor
    positions: torch.Tensor
    boxes: torch.Tensor
    channels: list[int] | torch.Tensor
    layer: str
    rule: str
    receptive_field: ReceptiveField

    @property
    def inactive(self) -> torch.Tensor:
        """(N, K) bool: the unit's strongest value is not positive, so it was projected from its magnitude."""
        return self.activations <= 0


def deconvnet(
    model: nn.Module,
    images: torch.Tensor,
    layer: str | nn.Module,
    channels: Sequence[int] | torch.Tensor | None = None,
    *,
    rule: str = "deconvnet",
    crop: bool = True,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> Projections:
    """Project each chosen channel's strongest activation in each image back to input space.

    `images` (N, C, H, W) are in the model's input space (already normalized). `layer` names exactly
    one layer (as in `resolve_layers`) whose output is (N, C, h, w). `channels`: None for all, a
    sequence for the same channels in every image, or an (N, K) integer tensor for per-image channels.
    `rule="guided"` gives guided backpropagation. `crop=False` computes on whole images (same result,
    slower: for checking). Samples are chunked so that the estimated memory stays under
    `memory_budget` bytes. The model is left as found (modes, requires_grad, gradients, hooks).
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {list(RULES)}")
    name, module = single_layer(model, layer)
    network = unwrap_model(model)
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    inputs = images.detach().to(device=model_device(network), dtype=model_dtype(network))
    count, colours, height, width = inputs.shape
    with evaluation_mode(network, freeze_parameters=True):
        with torch.no_grad():
            maps = layer_output(network, module, inputs)
        if maps.dim() != 4:
            raise ValueError(
                f"layer {name!r} ({type(module).__name__}) outputs shape {tuple(maps.shape)}; "
                "deconvnet needs a layer whose output is (N, C, H, W) such as a Conv2d"
            )
        table, shared = _channel_table(channels, count, maps.shape[1], name, maps.device)
        activations, positions = strongest_units(maps, table)
        field = field_of(network, module, name, (colours, height, width))
        windows = field if crop else _whole(height, width)
        projections, reached = _project_images(network, module, inputs, table, positions, activations, windows, rule,
                                               memory_budget)  # fmt: skip
        if crop and not crops_agree(reached, activations):
            warnings.warn(
                f"deconvnet: crops of layer {name!r} did not reproduce its activations; used whole images",
                RuntimeWarning,
                stacklevel=2,
            )
            projections, _ = _project_images(network, module, inputs, table, positions, activations,
                                             _whole(height, width), rule, memory_budget)  # fmt: skip
    return Projections(
        projections=projections,
        activations=activations,
        positions=positions,
        boxes=field.boxes(positions),
        channels=table[0].tolist() if shared else table,
        layer=name,
        rule=rule,
        receptive_field=field,
    )


def strongest_units(maps: torch.Tensor, table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For maps (N, C, h, w) and channels (N, K): the strongest value (N, K) and its (row, col) (N, K, 2)."""
    width = maps.shape[-1]
    chosen = maps.flatten(2).gather(1, table[:, :, None].expand(-1, -1, maps.shape[-2] * width))
    values, flat = chosen.max(dim=2)
    return values, torch.stack([flat // width, flat % width], dim=-1)


def project_windows(
    network: nn.Module,
    module: nn.Module,
    images: torch.Tensor,
    image_index: torch.Tensor,
    starts: torch.Tensor,
    size: tuple[int, int],
    channels: torch.Tensor,
    targets: torch.Tensor,
    values: torch.Tensor,
    rule: str,
    memory_budget: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Projections (P, C, *size) of P samples at once, and the unit values the windows reach (P,).

    Sample p is the window of images[image_index[p]] at starts[p]; its projection starts from
    `positive_seed(values)[p]` at unit (channels[p], *targets[p]) of the layer's output on that window. Samples run
    in chunks under `memory_budget`; run it inside `evaluation_mode(network, freeze_parameters=True)`.
    """
    sample_bytes = _bytes_per_sample(network, module, (images.shape[1], *size), images, rule)
    chunk = max(1, int(memory_budget // sample_bytes))
    projections, reached = [], []
    for begin in range(0, len(image_index), chunk):
        part = slice(begin, begin + chunk)
        windows = take_windows(images, image_index[part], starts[part], size).requires_grad_(True)
        with torch.enable_grad(), backward_rule(rule):
            output = layer_output(network, module, windows)
        units = (torch.arange(len(windows), device=windows.device), channels[part], targets[part, 0], targets[part, 1])
        seed = torch.zeros_like(output)
        seed[units] = positive_seed(values[part]).to(output.dtype)
        (gradient,) = torch.autograd.grad(output, windows, seed)
        projections.append(gradient)
        reached.append(output[units].detach())
    return torch.cat(projections), torch.cat(reached)


def positive_seed(values: torch.Tensor) -> torch.Tensor:
    """Where each projection starts: the unit's magnitude, 1 for a unit at 0 (a projection is never blank).

    relu(signal) is positively homogeneous, so any positive start draws the same picture up to scale.
    """
    magnitude = values.abs()
    return torch.where(magnitude > 0, magnitude, torch.ones_like(magnitude))


def _project_images(
    network: nn.Module,
    module: nn.Module,
    inputs: torch.Tensor,
    table: torch.Tensor,
    positions: torch.Tensor,
    activations: torch.Tensor,
    field: ReceptiveField,
    rule: str,
    memory_budget: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (image, channel) pair as one sample cropped to its field; projections pasted back full size."""
    count, kept = table.shape
    device = inputs.device
    image_index = torch.arange(count, device=device).repeat_interleave(kept)
    flat_positions = positions.reshape(-1, 2)
    starts = field.window_starts(flat_positions)
    size = field.window_size
    targets = flat_positions - starts // torch.tensor(field.jumps, device=device)
    windows, reached = project_windows(
        network, module, inputs, image_index, starts, size, table.reshape(-1), targets, activations.reshape(-1),
        rule, memory_budget,
    )  # fmt: skip
    projections = inputs.new_zeros((count * kept, *inputs.shape[1:]))
    rows = starts[:, 0, None] + torch.arange(size[0], device=device)
    cols = starts[:, 1, None] + torch.arange(size[1], device=device)
    samples = torch.arange(count * kept, device=device)
    projections[samples[:, None, None], :, rows[:, :, None], cols[:, None, :]] = windows.permute(0, 2, 3, 1)
    return projections.reshape(count, kept, *inputs.shape[1:]), reached.reshape(count, kept)


def _bytes_per_sample(
    network: nn.Module, module: nn.Module, shape: tuple[int, int, int], like: torch.Tensor, rule: str
) -> int:
    """Memory one more sample costs: what autograd saves for it (weights excluded), its output and gradients."""
    tensors = itertools.chain(network.parameters(), network.buffers())
    weights = {tensor.untyped_storage().data_ptr() for tensor in tensors}
    sample = like.new_zeros((1, *shape)).requires_grad_(True)
    with torch.enable_grad(), backward_rule(rule):
        saved, output = saved_bytes(lambda: layer_output(network, module, sample), excluded=weights)
    # The backward holds gradients about as large as what was saved; input and output twice (value, gradient).
    return max(1, 2 * saved + 2 * output.nbytes + 2 * sample.nbytes)


def _channel_table(
    channels: Sequence[int] | torch.Tensor | None, count: int, available: int, name: str, device: torch.device
) -> tuple[torch.Tensor, bool]:
    """(N, K) channel indices, and whether all images share them."""
    if channels is None:
        return torch.arange(available, device=device).expand(count, -1), True
    table = torch.as_tensor(channels, dtype=torch.long, device=device)
    shared = table.dim() == 1
    if shared:
        table = table.expand(count, -1)
    elif table.dim() != 2 or table.shape[0] != count:
        raise ValueError(f"channels must be a sequence or an (N={count}, K) tensor, got shape {tuple(table.shape)}")
    checked_indices(table.flatten().tolist(), available, "channels", f"layer {name!r}")
    return table, shared


def crops_agree(reached: torch.Tensor, activations: torch.Tensor) -> bool:
    """Whether crops reproduced the whole-image activations (up to the rounding of other conv algorithms)."""
    scale = float(activations.abs().max()) if activations.numel() else 0.0
    return bool(torch.allclose(reached, activations, rtol=1e-3, atol=1e-4 * scale + 1e-6))


def _whole(height: int, width: int) -> ReceptiveField:
    return ReceptiveField(height, width, None, None)
