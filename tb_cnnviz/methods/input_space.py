"""The model's input normalization: display space ([0, 1], what people see) <-> model space ((x - mean) / std).

Methods that produce images optimize in display space, so the images come back showable and bounded,
and normalize inside, so the model sees what it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Normalization = Sequence[float] | float | None


def normalization_columns(
    mean: Normalization, std: Normalization, colours: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std as (1, C, 1, 1) float32 columns; None means 0 and 1 (no normalization)."""

    def as_column(values: Normalization, default: float, what: str) -> torch.Tensor:
        if values is None:
            values = [default] * colours
        elif isinstance(values, (int, float)):
            values = [float(values)] * colours
        column = torch.as_tensor(list(values), dtype=torch.float32, device=device)
        if column.numel() != colours:
            raise ValueError(f"{what} has {column.numel()} values but the images have {colours} channels")
        return column.view(1, colours, 1, 1)

    mean_column = as_column(mean, 0.0, "input_mean")
    std_column = as_column(std, 1.0, "input_std")
    if bool((std_column == 0).any()):
        raise ValueError("input_std must not contain 0")
    return mean_column, std_column


def normalizer(
    mean: Normalization, std: Normalization, colours: int, device: torch.device, dtype: torch.dtype
) -> Callable[[torch.Tensor], torch.Tensor]:
    """(x - mean) / std per input channel, then the model's dtype: display space -> model space."""
    mean_column, std_column = normalization_columns(mean, std, colours, device)

    def normalize(images: torch.Tensor) -> torch.Tensor:
        return ((images - mean_column) / std_column).to(dtype)

    return normalize


def to_display(images: torch.Tensor, mean: Normalization = None, std: Normalization = None) -> torch.Tensor:
    """Model inputs (N, C, H, W) -> float32 display space, x * std + mean (not clamped)."""
    mean_column, std_column = normalization_columns(mean, std, images.shape[1], images.device)
    return images.detach().float() * std_column + mean_column
