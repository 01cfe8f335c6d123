"""The inputs of a data set that excite each channel most (Zeiler & Fergus's top 9), in one streaming pass.

Only the running winners are kept: per channel k values, positions and the crop window under each
winner's receptive field (receptive_field.py), so memory is K * k windows however large the data set.
Windows are aligned like deconvnet's crops, so the winners can be projected afterwards exactly as from
their full images, without keeping the images.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from tb_cnnviz.methods.capture import layer_output
from tb_cnnviz.methods.deconv import DEFAULT_MEMORY_BUDGET, crops_agree, project_windows, strongest_units
from tb_cnnviz.methods.indices import checked_indices
from tb_cnnviz.methods.layers import single_layer, unwrap_model
from tb_cnnviz.methods.model_state import evaluation_mode, model_device, model_dtype
from tb_cnnviz.methods.receptive_field import ReceptiveField, field_of, take_windows
from tb_cnnviz.methods.relu_rules import RULES


@dataclass(frozen=True)
class TopActivations:
    """Per channel, the k strongest activations of a layer over a data set, at most one per input.

    values: (K, k) descending; indices: (K, k) each input's position in the stream (its data set index
    when the loader does not shuffle); positions: (K, k, 2) (row, col) in the feature map;
    boxes: (K, k, 4) (top, left, bottom, right), exclusive ends: the unit's field clipped to the input;
    patches: (K, k, C, ph, pw) the input under the unit's whole field, zeros where it reaches past the input;
    projections: like patches, the deconvnet/guided projection of each activation, or None if not asked;
    channels, layer, receptive_field, and count: the number of inputs seen. k is smaller if fewer inputs came.
    A winner whose value is not positive is projected from its magnitude, as in `deconvnet` (see `inactive`).
    """

    values: torch.Tensor
    indices: torch.Tensor
    positions: torch.Tensor
    boxes: torch.Tensor
    patches: torch.Tensor
    projections: torch.Tensor | None
    channels: list[int]
    layer: str
    receptive_field: ReceptiveField
    count: int

    @property
    def inactive(self) -> torch.Tensor:
        """(K, k) bool: the winner's value is not positive, so it was projected from its magnitude."""
        return self.values <= 0


@dataclass
class _Winners:
    """The running top k of every channel, with the crop windows needed to show and project them."""

    values: torch.Tensor  # (K, m)
    indices: torch.Tensor  # (K, m)
    positions: torch.Tensor  # (K, m, 2)
    windows: torch.Tensor  # (K, m, C, wh, ww)
    window_starts: torch.Tensor  # (K, m, 2)


def top_activations(
    model: nn.Module,
    data: torch.Tensor | Iterable,
    layer: str | nn.Module,
    channels: Sequence[int] | None = None,
    k: int = 9,
    *,
    project: str | None = None,
    batch_size: int = 64,
    progress: bool = True,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> TopActivations:
    """Stream `data` once and keep, per channel of `layer`, the k inputs where it fires most.

    `data` is a tensor (N, C, H, W) (split into `batch_size` batches) or an iterable of batches such as
    a DataLoader, whose items are tensors or (inputs, ...) tuples, in the model's input space. An
    input's strength for a channel is its strongest unit. `project="deconvnet"` or `"guided"` also
    projects each winner. A tqdm bar shows progress unless `progress=False`. The model is left as found.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if project is not None and project not in RULES:
        raise ValueError(f"unknown projection rule {project!r}; choose one of {list(RULES)} or None")
    name, module = single_layer(model, layer)
    network = unwrap_model(model)
    bar = tqdm(_batches(data, batch_size), total=_batch_count(data, batch_size), disable=not progress,
               desc=f"top activations of {name}", unit="batch")  # fmt: skip
    with evaluation_mode(network, freeze_parameters=True), bar:
        winners, field, table, count = _stream(network, module, name, bar, channels, k)
        patch_starts = field.patch_starts(winners.positions)
        patches = _cut_patches(winners.windows, winners.window_starts, patch_starts, field)
        projections = None
        if project is not None:
            projections = _project_winners(network, module, winners, table[0], field, project, memory_budget)
            projections = _cut_patches(projections, winners.window_starts, patch_starts, field)
    return TopActivations(
        values=winners.values,
        indices=winners.indices,
        positions=winners.positions,
        boxes=field.boxes(winners.positions),
        patches=patches,
        projections=projections,
        channels=table[0].tolist(),
        layer=name,
        receptive_field=field,
        count=count,
    )


def _stream(
    network: nn.Module,
    module: nn.Module,
    name: str,
    batches: Iterable[torch.Tensor],
    channels: Sequence[int] | None,
    k: int,
) -> tuple[_Winners, ReceptiveField, torch.Tensor, int]:
    """The one pass over the data: each batch's strongest units merged into the running winners.

    Returns the winners, the layer's receptive field, the (1, K) channel table and how many inputs came.
    """
    device, dtype = model_device(network), model_dtype(network)
    winners: _Winners | None = None
    field: ReceptiveField | None = None
    table: torch.Tensor | None = None
    count = 0
    shape: tuple[int, ...] = ()
    for batch in batches:
        inputs = batch.to(device=device, dtype=dtype)
        with torch.no_grad():
            maps = layer_output(network, module, inputs)
        if field is None:
            field, table = _first_batch(network, module, name, inputs, maps, channels)
            shape = tuple(inputs.shape[1:])
        elif tuple(inputs.shape[1:]) != shape:
            raise ValueError(f"inputs of shape {tuple(inputs.shape[1:])} after inputs of shape {shape}")
        values, positions = strongest_units(maps, table.expand(len(inputs), -1))
        winners = _merge(winners, inputs, values.T, positions.transpose(0, 1), count, field, k)
        count += len(inputs)
    if winners is None:
        raise ValueError("data yielded no inputs")
    return winners, field, table, count


def _first_batch(
    network: nn.Module,
    module: nn.Module,
    name: str,
    inputs: torch.Tensor,
    maps: torch.Tensor,
    channels: Sequence[int] | None,
) -> tuple[ReceptiveField, torch.Tensor]:
    """The layer's receptive field and the (1, K) channel table, from the first batch's shapes."""
    if inputs.dim() != 4 or maps.dim() != 4:
        raise ValueError(
            f"inputs {tuple(inputs.shape)} and layer {name!r} output {tuple(maps.shape)} must both be (N, C, H, W)"
        )
    available = maps.shape[1]
    chosen = (
        range(available) if channels is None else checked_indices(channels, available, "channels", f"layer {name!r}")
    )
    table = torch.tensor(chosen, dtype=torch.long, device=maps.device)[None, :]
    return field_of(network, module, name, tuple(inputs.shape[1:])), table


def _merge(
    winners: _Winners | None,
    inputs: torch.Tensor,
    values: torch.Tensor,
    positions: torch.Tensor,
    first_index: int,
    field: ReceptiveField,
    k: int,
) -> _Winners:
    """The top k of the old winners and this batch's candidates (K, B); windows cut only for new winners."""
    channels, batch = values.shape
    indices = torch.arange(first_index, first_index + batch, device=values.device).expand(channels, -1)
    held = 0 if winners is None else winners.values.shape[1]
    if winners is not None:
        values = torch.cat([winners.values, values], dim=1)
        indices = torch.cat([winners.indices, indices], dim=1)
        positions = torch.cat([winners.positions, positions], dim=1)
    top_values, order = values.topk(min(k, values.shape[1]), dim=1)
    top_positions = positions.gather(1, order[:, :, None].expand(-1, -1, 2))
    starts = field.window_starts(top_positions)
    size = field.window_size
    windows = inputs.new_empty((*order.shape, inputs.shape[1], *size))
    from_batch = order >= held
    rows = torch.arange(channels, device=order.device)[:, None].expand_as(order)
    if winners is not None:
        kept = ~from_batch
        windows[kept] = winners.windows[rows[kept], order[kept]]
    windows[from_batch] = take_windows(inputs, order[from_batch] - held, starts[from_batch], size)
    return _Winners(top_values, indices.gather(1, order), top_positions, windows, starts)


def _project_winners(
    network: nn.Module,
    module: nn.Module,
    winners: _Winners,
    channels: torch.Tensor,
    field: ReceptiveField,
    rule: str,
    memory_budget: int,
) -> torch.Tensor:
    """Projections (K, k, C, wh, ww) of every winner from its stored window."""
    kept, ranks = winners.values.shape
    windows = winners.windows.flatten(0, 1)
    starts = winners.window_starts.flatten(0, 1)
    targets = winners.positions.flatten(0, 1) - starts // torch.tensor(field.jumps, device=starts.device)
    projections, reached = project_windows(
        network, module, windows, torch.arange(len(windows), device=windows.device), torch.zeros_like(starts),
        field.window_size, channels.repeat_interleave(ranks), targets, winners.values.flatten(), rule, memory_budget,
    )  # fmt: skip
    if not crops_agree(reached, winners.values.flatten()):
        warnings.warn("top_activations: crop windows did not reproduce the activations", RuntimeWarning, stacklevel=3)
    return projections.reshape(kept, ranks, *projections.shape[1:])


def _cut_patches(
    windows: torch.Tensor, window_starts: torch.Tensor, patch_starts: torch.Tensor, field: ReceptiveField
) -> torch.Tensor:
    """(K, k, C, ph, pw) patches of each unit's whole field from its window; zeros outside the input."""
    height, width = field.patch_size
    rows = patch_starts[..., 0, None] + torch.arange(height, device=windows.device)  # image coordinates
    cols = patch_starts[..., 1, None] + torch.arange(width, device=windows.device)
    inside = ((rows >= 0) & (rows < field.height))[..., :, None] & ((cols >= 0) & (cols < field.width))[..., None, :]
    rows = (rows - window_starts[..., 0, None]).clamp(0, windows.shape[-2] - 1)  # window coordinates
    cols = (cols - window_starts[..., 1, None]).clamp(0, windows.shape[-1] - 1)
    flat = windows.flatten(0, 1)
    samples = torch.arange(len(flat), device=windows.device)[:, None, None]
    patches = flat[samples, :, rows.flatten(0, 1)[:, :, None], cols.flatten(0, 1)[:, None, :]]  # (P, ph, pw, C)
    patches = patches * inside.flatten(0, 1)[..., None]
    return patches.permute(0, 3, 1, 2).reshape(*windows.shape[:2], windows.shape[2], height, width)


def _batches(data: torch.Tensor | Iterable, batch_size: int) -> Iterator[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        yield from data.split(batch_size)
        return
    for batch in data:
        if isinstance(batch, (tuple, list)) and batch:
            batch = batch[0]
        if not isinstance(batch, torch.Tensor):
            raise TypeError(f"data must yield tensors or (inputs, ...) tuples, got {type(batch).__name__}")
        yield batch


def _batch_count(data: torch.Tensor | Iterable, batch_size: int) -> int | None:
    if isinstance(data, torch.Tensor):
        return math.ceil(len(data) / batch_size)
    try:
        return len(data)
    except TypeError:
        return None
