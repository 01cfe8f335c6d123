"""Receptive fields of a layer's units, measured on the model, and the crop windows they allow.

A unit's value and its deconvnet projection depend only on the input under its receptive field, so a
projection can be computed from a small crop instead of the whole image: the reason deconvnet here costs
a fraction of a full-image pass. The field is measured, not derived from a hand-written table of layer
types, so any architecture works: a gradient probe (max pools averaged and activations passed through,
so no dependence is hidden by a switch or a dead unit) gives the support of neighbouring units, hence
field size, stride (jump) and offset per axis; then a forward check perturbs the input outside the
measured field and requires the unit not to move. Whatever fails (a global pooling such as
squeeze-and-excitation, a field wider than the image, a geometry that is not translation-equivariant)
is treated as the whole image, which is always correct.

Crop windows keep every stride aligned (they start at a multiple of the total jump) and keep the
image border where the field reaches it (a window never extends past the image; there the model's own
padding applies), so the crop computes exactly the values the full image gives inside the field.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from tb_cnnviz.methods.capture import layer_output
from tb_cnnviz.methods.layers import single_layer, unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype
from tb_cnnviz.methods.relu_rules import PASS_THROUGH, backward_rule

_FIRST_PROBE_SIZE = 32  # small first: the probe is a forward and backward at this size, grown only if needed
_CACHE: weakref.WeakKeyDictionary[nn.Module, dict[tuple, ReceptiveField]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class AxisField:
    """Along one axis, unit i sees input pixels [i * jump + offset, i * jump + offset + size)."""

    size: int
    jump: int
    offset: int

    def start(self, index: torch.Tensor) -> torch.Tensor:
        return index * self.jump + self.offset


@dataclass(frozen=True)
class ReceptiveField:
    """The field of every unit of one layer for images of (height, width); an axis None is the whole image."""

    height: int
    width: int
    rows: AxisField | None
    cols: AxisField | None

    @property
    def patch_size(self) -> tuple[int, int]:
        """(rows, cols) of a patch holding one unit's whole field."""
        return (self.rows.size if self.rows else self.height, self.cols.size if self.cols else self.width)

    def patch_starts(self, positions: torch.Tensor) -> torch.Tensor:
        """Image coordinates (..., 2) of each field's top-left corner, possibly outside the image."""
        return torch.stack(
            [_axis_start(self.rows, positions[..., 0]), _axis_start(self.cols, positions[..., 1])], dim=-1
        )

    def boxes(self, positions: torch.Tensor) -> torch.Tensor:
        """(..., 4) (top, left, bottom, right), bottom/right exclusive: each unit's field clipped to the image."""
        starts = self.patch_starts(positions)
        size = torch.tensor(self.patch_size, device=positions.device)
        limit = torch.tensor([self.height, self.width], device=positions.device)
        low = starts.clamp(min=0)
        high = torch.minimum(starts + size, limit)
        return torch.cat([low, high], dim=-1)

    @property
    def window_size(self) -> tuple[int, int]:
        """(rows, cols) of the crop windows: one size for every unit, so crops batch together."""
        return (_window_length(self.rows, self.height), _window_length(self.cols, self.width))

    @property
    def jumps(self) -> tuple[int, int]:
        return (self.rows.jump if self.rows else 1, self.cols.jump if self.cols else 1)

    def window_starts(self, positions: torch.Tensor) -> torch.Tensor:
        """(..., 2) top-left corners of the crop windows for units at `positions` (..., 2)."""
        return torch.stack(
            [
                _window_start(self.rows, self.height, positions[..., 0]),
                _window_start(self.cols, self.width, positions[..., 1]),
            ],
            dim=-1,
        )


def _axis_start(axis: AxisField | None, index: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(index) if axis is None else axis.start(index)


def _window_length(axis: AxisField | None, length: int) -> int:
    """Field size plus the misalignment of its start, rounded so that `length - window` is a multiple of jump.

    Then every window can start at a multiple of the jump (strides stay aligned) and the last ones can
    end exactly at the image border.
    """
    if axis is None:
        return length
    window = axis.size + axis.offset % axis.jump
    window += (length - window) % axis.jump
    return min(window, length)


def _window_start(axis: AxisField | None, length: int, index: torch.Tensor) -> torch.Tensor:
    window = _window_length(axis, length)
    if axis is None or window == length:
        return torch.zeros_like(index)
    aligned = axis.start(index) - axis.offset % axis.jump
    return aligned.clamp(min=0, max=length - window)


def take_windows(images: torch.Tensor, image_index: torch.Tensor, starts: torch.Tensor, size: tuple[int, int]):
    """Crops (P, C, size) of images[image_index[p]] at starts[p] (P, 2): one gather, no Python loop."""
    rows = starts[:, 0, None] + torch.arange(size[0], device=starts.device)
    cols = starts[:, 1, None] + torch.arange(size[1], device=starts.device)
    crops = images[image_index[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (P, h, w, C)
    return crops.permute(0, 3, 1, 2).contiguous()


def receptive_field(
    model: nn.Module, layer: str | nn.Module, image_size: tuple[int, int], in_channels: int = 3
) -> ReceptiveField:
    """The receptive field of `layer`'s units for (in_channels, *image_size) inputs, measured once and cached.

    The model is left as found (modes, requires_grad, gradients, hooks); the cache holds no reference to it.
    """
    name, module = single_layer(model, layer)
    return field_of(unwrap_model(model), module, name, (in_channels, *image_size))


def field_of(network: nn.Module, module: nn.Module, name: str, shape: tuple[int, int, int]) -> ReceptiveField:
    """`receptive_field` for an already resolved layer; `shape` is (C, H, W)."""
    device, dtype = model_device(network), model_dtype(network)
    key = (name, tuple(shape), device, dtype)
    cached = _CACHE.setdefault(network, {})
    if key not in cached:
        with evaluation_mode(network, freeze_parameters=True):
            cached[key] = _measure(network, module, shape, device, dtype)
    return cached[key]


def _measure(
    network: nn.Module, module: nn.Module, shape: tuple[int, int, int], device: torch.device, dtype: torch.dtype
) -> ReceptiveField:
    channels, height, width = shape
    whole = ReceptiveField(height, width, None, None)
    probe_h, probe_w = min(height, _FIRST_PROBE_SIZE), min(width, _FIRST_PROBE_SIZE)
    rows = cols = None
    rows_done = cols_done = False
    while not (rows_done and cols_done):
        try:
            measured_rows, measured_cols = _probe_supports(network, module, (channels, probe_h, probe_w), device, dtype)
        except RuntimeError:  # too small for the model (a map shrank to nothing): grow, unless already full size
            if probe_h == height and probe_w == width:
                raise
            measured_rows = measured_cols = None
        if not rows_done:
            rows, rows_done = measured_rows, measured_rows is not None or probe_h == height
        if not cols_done:
            cols, cols_done = measured_cols, measured_cols is not None or probe_w == width
        probe_h = probe_h if rows_done else min(height, 2 * probe_h)
        probe_w = probe_w if cols_done else min(width, 2 * probe_w)
    field = ReceptiveField(height, width, rows, cols)
    if rows is None and cols is None:
        return whole
    return field if _outside_is_ignored(network, module, field, channels, device, dtype) else whole


def _probe_supports(
    network: nn.Module, module: nn.Module, shape: tuple[int, int, int], device: torch.device, dtype: torch.dtype
) -> tuple[AxisField | None, AxisField | None]:
    """Fields along rows and cols from the gradient support of a centre unit and its two next neighbours.

    None for an axis where the support touches the probe's border (maybe clipped) or is not a
    translated copy of the centre's.
    """
    generator = torch.Generator().manual_seed(0)
    image = torch.randn((1, *shape), generator=generator).to(device=device, dtype=dtype)
    inputs = image.expand(3, *shape).clone().requires_grad_(True)
    with torch.enable_grad(), _MaxPoolsAveraged(), backward_rule(PASS_THROUGH):
        output = layer_output(network, module, inputs)
    if output.dim() != 4:
        raise ValueError(f"the layer's output has shape {tuple(output.shape)}; a receptive field needs (N, C, H, W)")
    out_h, out_w = output.shape[-2:]
    row, col = (out_h - 1) // 2, (out_w - 1) // 2
    if out_h < 2 or out_w < 2:
        return None, None
    seed = torch.zeros_like(output)
    seed[0, :, row, col] = 1
    seed[1, :, row + 1, col] = 1
    seed[2, :, row, col + 1] = 1
    (gradient,) = torch.autograd.grad(output, inputs, seed)
    support = gradient.abs().sum(dim=1) > 0  # (3, h, w)
    rows = _axis_from_supports(support[0].any(dim=1), support[1].any(dim=1), row)
    cols = _axis_from_supports(support[0].any(dim=0), support[2].any(dim=0), col)
    return rows, cols


def _axis_from_supports(centre: torch.Tensor, neighbour: torch.Tensor, index: int) -> AxisField | None:
    spans = [_span(centre), _span(neighbour)]
    if None in spans:
        return None
    (first, last), (next_first, next_last) = spans
    jump = next_first - first
    if jump <= 0 or next_last - last != jump or first == 0 or next_last == len(centre) - 1:
        return None
    return AxisField(size=last - first + 1, jump=jump, offset=first - index * jump)


def _span(support: torch.Tensor) -> tuple[int, int] | None:
    """(first, last) of a contiguous run of True; None if empty or with gaps."""
    hits = torch.nonzero(support).flatten()
    if len(hits) == 0:
        return None
    first, last = int(hits[0]), int(hits[-1])
    return (first, last) if bool(support[first : last + 1].all()) else None


def _outside_is_ignored(
    network: nn.Module,
    module: nn.Module,
    field: ReceptiveField,
    channels: int,
    device: torch.device,
    dtype: torch.dtype,
) -> bool:
    """Whether a unit's value stays put when the input outside its measured field changes (real forward)."""
    generator = torch.Generator().manual_seed(1)
    shape = (1, channels, field.height, field.width)
    image = torch.randn(shape, generator=generator).to(device=device, dtype=dtype)
    with torch.no_grad():
        out_h, out_w = layer_output(network, module, image).shape[-2:]
        position = torch.tensor([(out_h - 1) // 2, (out_w - 1) // 2], device=device)
        top, left, bottom, right = field.boxes(position).tolist()
        outside = torch.ones(shape[-2:], dtype=torch.bool, device=device)
        outside[top:bottom, left:right] = False
        noise = 4 * torch.randn(shape, generator=generator).to(device=device, dtype=dtype)
        inputs = torch.cat([image, image + noise * outside])
        units = layer_output(network, module, inputs)[:, :, position[0], position[1]]
    scale = float(units.abs().max()) + 1e-12
    return float((units[0] - units[1]).abs().max()) <= 1e-4 * scale


class _MaxPoolsAveraged(TorchFunctionMode):
    """Max pooling becomes average pooling of the same geometry: every element of a window gets gradient."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _MAX_POOLS and not kwargs.get("return_indices", False):
            return _average_like_max_pool(*args, **kwargs)
        if func in _ADAPTIVE_MAX_POOLS and not kwargs.get("return_indices", False):
            return F.adaptive_avg_pool2d(args[0], args[1] if len(args) > 1 else kwargs["output_size"])
        return func(*args, **kwargs)


def _average_like_max_pool(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, **_):
    if dilation not in (1, (1, 1), [1, 1]):
        return F.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode)
    return F.avg_pool2d(input, kernel_size, stride or None, padding, ceil_mode=ceil_mode, count_include_pad=False)


_MAX_POOLS = {F.max_pool2d, torch.max_pool2d}
_ADAPTIVE_MAX_POOLS = {F.adaptive_max_pool2d}
