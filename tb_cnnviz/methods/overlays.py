"""Heatmaps laid over images for display: pure tensor functions, no model.

Saliency, Grad-CAM and activation maps live at their own resolution in [0, 1]; people read them best
as colour over the image they explain, at the image's size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def heat_colors(heatmap: torch.Tensor) -> torch.Tensor:
    """(N, h, w) values in [0, 1] -> (N, 3, h, w) RGB in [0, 1] through a jet colormap (blue low, red high).

    Jet, as the Grad-CAM paper shows its maps, so views read the same as the figures people know.
    """
    values = heatmap.float().clamp(0, 1).unsqueeze(1)
    centres = torch.tensor([0.75, 0.5, 0.25], device=values.device).view(1, 3, 1, 1)  # red, green, blue
    return (1.5 - 4 * (values - centres).abs()).clamp(0, 1)


def resize_heatmap(heatmap: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, h, w) -> (N, H, W), bilinear, staying in [0, 1]: a layer-resolution map at the image's size."""
    resized = F.interpolate(heatmap.float().unsqueeze(1), size=size, mode="bilinear", align_corners=False)
    return resized[:, 0].clamp(0, 1)


def normalize_heatmap(values: torch.Tensor) -> torch.Tensor:
    """(N, h, w) any range -> [0, 1] per image (min to 0, max to 1); a constant map becomes zeros."""
    flat = values.float().flatten(1)
    low = flat.amin(dim=1).view(-1, 1, 1)
    span = (flat.amax(dim=1).view(-1, 1, 1) - low).clamp_min(torch.finfo(torch.float32).tiny)
    return (values.float() - low) / span


def as_rgb(images: torch.Tensor) -> torch.Tensor:
    """Display-space images (N, C, H, W) -> (N, 3, H, W) in [0, 1]; other channel counts than 3 show the first."""
    pictures = images.detach().float().clamp(0, 1)
    return pictures if pictures.shape[1] == 3 else pictures[:, :1].expand(-1, 3, -1, -1)


def overlay(images: torch.Tensor, heatmap: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """Images (N, C, H, W) in display space [0, 1] with `heatmap` (N, h, w) in [0, 1] over them in colour.

    The heatmap is resized to the images' size; grey images (C = 1) become RGB, other channel counts
    than 1 and 3 show their first channel. `alpha` is the heatmap's weight. Returns (N, 3, H, W) in [0, 1].
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if images.dim() != 4 or heatmap.dim() != 3 or len(images) != len(heatmap):
        raise ValueError(
            f"need images (N, C, H, W) and heatmap (N, h, w), got {tuple(images.shape)} and {tuple(heatmap.shape)}"
        )
    rgb = as_rgb(images)
    colors = heat_colors(resize_heatmap(heatmap.detach().to(images.device), tuple(images.shape[-2:])))
    return (1 - alpha) * rgb + alpha * colors
