"""Feature-map peaks in image coordinates: what the explanatory graph mines its part patterns from.

A peak is a unit that is the largest in its 3x3 neighbourhood and positive. Per input, each channel keeps
only its `per_channel` strongest peaks, so a pass over a data set keeps N * C * per_channel peaks
whatever the maps' size. A peak's position is the centre of its unit's receptive field, measured on the
model (receptive_field.py); along an axis where the field spans the whole input (a global pooling, or a
field wider than the input) the map is taken to tile the input evenly, the only reading left.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tb_cnnviz.methods.capture import each_feature_map
from tb_cnnviz.methods.receptive_field import AxisField, field_of


@dataclass(frozen=True)
class AxisMap:
    """Along one axis: unit i's field starts at i * jump + offset and is `size` long (clipped to `length`)."""

    size: int
    jump: float
    offset: float
    length: int
    measured: bool  # False: the field spans the whole input, and units tile it evenly

    def centre(self, index: torch.Tensor) -> torch.Tensor:
        if self.measured:
            return index * self.jump + self.offset + (self.size - 1) / 2
        return (index + 0.5) * self.jump - 0.5


def axis_map(axis: AxisField | None, length: int, map_length: int) -> AxisMap:
    if axis is not None:
        return AxisMap(axis.size, float(axis.jump), float(axis.offset), length, True)
    jump = length / map_length
    return AxisMap(length, jump, 0.5 * jump - 0.5 - (length - 1) / 2, length, False)


@dataclass(frozen=True)
class LayerGeometry:
    """Where a layer's units sit in the input: rows (y) and cols (x)."""

    rows: AxisMap
    cols: AxisMap
    map_width: int

    def centres(self, units: torch.Tensor) -> torch.Tensor:
        """(..., 2) (x, y) input pixels of units (..., 2) (row, col)."""
        return torch.stack([self.cols.centre(units[..., 1].double()), self.rows.centre(units[..., 0].double())], -1)

    def box(self, unit: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), exclusive ends: the unit's whole field, possibly past the input's border."""
        top = int(unit[0] * self.rows.jump + self.rows.offset) if self.rows.measured else 0
        left = int(unit[1] * self.cols.jump + self.cols.offset) if self.cols.measured else 0
        return top, left, top + self.rows.size, left + self.cols.size

    def patch(self, image: torch.Tensor, unit: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """The input (C, H, W) under the unit's whole field (C, rows.size, cols.size), zeros past the border,
        and the field's box clipped to the input."""
        top, left, bottom, right = self.box(unit)
        clipped = (max(top, 0), max(left, 0), min(bottom, self.rows.length), min(right, self.cols.length))
        patch = image.new_zeros((image.shape[0], self.rows.size, self.cols.size))
        patch[:, clipped[0] - top : clipped[2] - top, clipped[1] - left : clipped[3] - left] = image[
            :, clipped[0] : clipped[2], clipped[1] : clipped[3]
        ]
        return patch, clipped


@dataclass
class LayerPeaks:
    """Every kept peak of one layer: parallel 1-D tensors, plus the layer's per-channel thresholds."""

    image: torch.Tensor  # (M,) position of the input in the stream
    channel: torch.Tensor  # (M,)
    unit: torch.Tensor  # (M, 2) (row, col) in the feature map
    position: torch.Tensor  # (M, 2) (x, y) input pixels, float64
    value: torch.Tensor  # (M,)
    thresholds: torch.Tensor  # (C,)
    geometry: LayerGeometry


def local_peaks(maps: torch.Tensor, per_channel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, flat unit indices), each (N, C, per_channel): the strongest 3x3 local maxima; -inf where fewer."""
    is_peak = (maps == F.max_pool2d(maps, 3, stride=1, padding=1)) & (maps > 0)
    scores = torch.where(is_peak, maps, torch.full_like(maps, -torch.inf)).flatten(2)
    return scores.topk(min(per_channel, scores.shape[-1]), dim=2)


def stream_peaks(
    network: nn.Module, modules: dict[str, nn.Module], batches: Iterable[torch.Tensor], per_channel: int
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], dict[str, LayerGeometry], int, tuple[int, int, int]]:
    """One pass: per layer the (values, flat units) of `local_peaks` for every input, their geometry, the
    number of inputs and the input shape (C, H, W)."""
    kept: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {name: [] for name in modules}
    geometry: dict[str, LayerGeometry] = {}
    shape: tuple[int, int, int] | None = None
    count = 0
    for inputs in batches:
        maps, problems = each_feature_map(network, inputs, modules)
        if problems:
            raise ValueError("; ".join(problems.values()))
        if shape is None:
            shape = tuple(inputs.shape[1:])
            geometry = {name: layer_geometry(network, modules[name], name, shape, maps[name]) for name in modules}
        elif tuple(inputs.shape[1:]) != shape:
            raise ValueError(f"inputs of shape {tuple(inputs.shape[1:])} after inputs of shape {shape}")
        for name, output in maps.items():
            values, units = local_peaks(output.float(), per_channel)
            kept[name].append((values.cpu(), units.to(torch.int32).cpu()))
        count += len(inputs)
    if shape is None:
        raise ValueError("data yielded no inputs")
    joined = {
        name: (torch.cat([v for v, _ in parts]), torch.cat([u for _, u in parts])) for name, parts in kept.items()
    }
    return joined, geometry, count, shape


def layer_geometry(
    network: nn.Module, module: nn.Module, name: str, shape: tuple[int, int, int], output: torch.Tensor
) -> LayerGeometry:
    if output.dim() != 4:
        raise ValueError(f"layer {name!r} gives shape {tuple(output.shape)}; part patterns need (N, C, H, W) maps")
    field = field_of(network, module, name, shape)
    rows, cols = axis_map(field.rows, shape[1], output.shape[2]), axis_map(field.cols, shape[2], output.shape[3])
    return LayerGeometry(rows, cols, output.shape[3])


def channel_thresholds(values: torch.Tensor, quantile: float) -> torch.Tensor:
    """(C,) per channel the `quantile` of its kept peak values (N, C, k); +inf for a channel without peaks."""
    pooled = torch.where(torch.isfinite(values), values, torch.nan).transpose(0, 1).flatten(1)
    return torch.nan_to_num(torch.nanquantile(pooled, quantile, dim=1), nan=torch.inf)


def thresholded(
    values: torch.Tensor, units: torch.Tensor, geometry: LayerGeometry, thresholds: torch.Tensor
) -> LayerPeaks:
    """The peaks (values, flat units) of `local_peaks` at or above their channel's threshold, as a LayerPeaks."""
    keep = torch.isfinite(values) & (values >= thresholds[None, :, None])
    image, channel, _ = keep.nonzero(as_tuple=True)
    flat = units[keep].long()
    unit = torch.stack([flat // geometry.map_width, flat % geometry.map_width], dim=-1)
    return LayerPeaks(image, channel, unit, geometry.centres(unit), values[keep], thresholds, geometry)


def peaks_of_maps(
    maps: torch.Tensor, geometry: LayerGeometry, thresholds: torch.Tensor, per_channel: int
) -> LayerPeaks:
    """The thresholded peaks of maps (N, C, h, w), as a pass over a data set keeps them (for probe images)."""
    values, units = local_peaks(maps.float().cpu(), per_channel)
    return thresholded(values, units, geometry, thresholds)
